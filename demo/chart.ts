// The live loss chart (uPlot): the training loss per step as a line, the validation loss as points, over the whole
// planned run (x from 0 to the last step, whole steps only), resized with its container. The values are also given
// as a sentence under it: the legend and the chart's text alternative in one.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const HEIGHT = 220;
/** Tick spacings in whole steps. */
const STEP_INCREMENTS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000];

export interface LossPoint {
  step: number;
  loss: number;
}

export class LossChart {
  private steps: number[] = [];
  private train: (number | null)[] = [];
  private valid: (number | null)[] = [];
  private total = 1;
  private plot: uPlot | null = null;

  constructor(private readonly wrap: HTMLElement, private readonly parent: HTMLElement, private readonly text: HTMLElement) {
    new ResizeObserver(() => this.plot?.setSize({ width: this.width(), height: HEIGHT })).observe(wrap);
  }

  /** A new curve over `total` steps, with what is already known of it (a resumed run's earlier steps). */
  start(total: number, train: LossPoint[] = [], valid: LossPoint[] = []): void {
    this.total = Math.max(1, total);
    this.steps = [];
    this.train = [];
    this.valid = [];
    this.wrap.hidden = false;
    this.plot ??= this.create();
    for (const p of train) this.add(p.step, p.loss, null, false);
    for (const p of valid) this.add(p.step, null, p.loss, false);
    this.redraw();
  }

  add(step: number, train: number | null, valid: number | null = null, redraw = true): void {
    let i = this.steps.indexOf(step);
    if (i < 0) {
      i = this.steps.findIndex((s) => s > step);
      if (i < 0) i = this.steps.length;
      this.steps.splice(i, 0, step);
      this.train.splice(i, 0, null);
      this.valid.splice(i, 0, null);
    }
    if (train !== null) this.train[i] = train;
    if (valid !== null) this.valid[i] = valid;
    if (redraw) this.redraw();
  }

  private width(): number {
    return Math.max(200, this.parent.clientWidth || this.wrap.clientWidth || 640);
  }

  private create(): uPlot {
    return new uPlot({
      width: this.width(), height: HEIGHT,
      legend: { show: false },
      scales: { x: { time: false, range: () => [0, this.total] } },
      axes: [
        { label: 'step', incrs: STEP_INCREMENTS, values: (_u, ticks) => ticks.map((t) => String(Math.round(t))) },
        { label: 'loss (nats)' },
      ],
      series: [
        { label: 'step' },
        { label: 'training loss', stroke: '#2a6fdb', width: 2, spanGaps: true },
        { label: 'validation loss', stroke: '#d9480f', width: 0, points: { show: true, size: 8, fill: '#d9480f' } },
      ],
    }, [[], [], []], this.parent);
  }

  private redraw(): void {
    this.plot?.setData([this.steps, this.train, this.valid]);
    const last = (ys: (number | null)[]) => {
      for (let i = ys.length - 1; i >= 0; i--) if (ys[i] !== null) return { step: this.steps[i], loss: ys[i] as number };
      return null;
    };
    const t = last(this.train);
    const v = last(this.valid);
    const first = this.train.find((y) => y !== null);
    this.text.textContent = !t ? 'Training loss (blue line) and validation loss (orange points) appear here as steps finish.'
      : `Training loss (blue line): ${first!.toFixed(3)} at the first step, ${t.loss.toFixed(3)} at step ${t.step} of ${this.total}.` +
        (v ? ` Validation loss (orange points): ${v.loss.toFixed(3)} at step ${v.step}.` : '');
  }
}
