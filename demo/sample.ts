// The built-in sample: a ship's log, written by a seeded generator here (no downloaded text). Its form — "Day N." then
// wind, sea, sightings and orders — is one the embedded model never saw (it was pretrained on War and Peace and State
// of the Union addresses), so a few dozen fine-tuning steps visibly change what it writes after "Day".
const WINDS = ['north', 'north-east', 'east', 'south-east', 'south', 'south-west', 'west', 'north-west'];
const SEAS = ['calm', 'choppy', 'heavy', 'rolling', 'glassy', 'rough'];
const SIGHTS = [
  'a school of dolphins off the bow', 'a whaler bound for home', 'gulls over a low island', 'a waterspout to leeward',
  'driftwood and weed', 'the lights of a distant harbour', 'a merchant brig flying no colours', 'an albatross astern',
];
const ORDERS = [
  'The captain ordered the topsails reefed.', 'We set the mainsail and held our course.', 'The carpenter mended the longboat.',
  'The cook served salt pork and biscuit.', 'All hands were called to pump the well.', 'We took a sounding and found no bottom.',
  'The watch was doubled through the night.', 'We changed tack at the turn of the glass.',
];

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
}

/** `days` log entries, one paragraph each. */
export function shipsLog(days = 160, seed = 7): string {
  const r = rng(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)];
  const out: string[] = [];
  for (let d = 1; d <= days; d++) {
    const knots = 3 + Math.floor(r() * 9);
    out.push(`Day ${d}. The wind came from the ${pick(WINDS)} and the sea was ${pick(SEAS)}. We made ${knots} knots. ` +
      `We sighted ${pick(SIGHTS)}. ${pick(ORDERS)}`);
  }
  return out.join('\n\n');
}
