// Quantization fidelity: mean code entropy (bits) and reconstruction RMSE of plain round-to-nearest vs
// ICQ, for a seeded normal matrix and for every linear weight of micro-llama-6m (MODEL_SAFETENSORS).
// Quantization runs on the GPU; entropy and RMSE are computed here from the read-back codes.
import type { Runtime } from '../src/gpu';
import { dequantize, entropyBits, quantize, unpackCodes, type Bits, type QuantSpec } from '../src/quant';

export interface FidelityRow {
  source: string;
  spec: string;
  weights: number;
  entropyPlain: number;
  entropyIcq: number;
  rmsePlain: number;
  rmseIcq: number;
  /** Groups whose ICQ code entropy is below the plain quantizer's. */
  groupsIcqLower: number;
  groups: number;
}

async function measure(rt: Runtime, w: Float32Array, out: number, inF: number, spec: QuantSpec) {
  const W = rt.upload(w, [out, inF], 'w');
  const q = await quantize(rt, W, spec, 'w');
  const codes = unpackCodes((await rt.read(q.codes)) as Uint32Array, out, inF, spec.bits);
  const stats = (await rt.read(q.stats)) as Float32Array;
  rt.free(W, q.codes, q.stats);
  const dq = dequantize(codes, stats, out, inF, spec);
  let se = 0;
  for (let i = 0; i < w.length; i++) se += (dq[i] - w[i]) ** 2;
  const entropies: number[] = [];
  const counts = new Array(2 ** spec.bits);
  for (let start = 0; start < codes.length; start += spec.groupSize) {
    counts.fill(0);
    for (let j = 0; j < spec.groupSize; j++) counts[codes[start + j]]++;
    entropies.push(entropyBits(counts));
  }
  return { sse: se, entropies };
}

function row(source: string, spec: QuantSpec, n: number, sse: [number, number], h: [number, number], lower: number, groups: number): FidelityRow {
  return {
    source, spec: `${spec.codebook}${spec.bits} G=${spec.groupSize}`, weights: n,
    entropyPlain: h[0] / groups, entropyIcq: h[1] / groups,
    rmsePlain: Math.sqrt(sse[0] / n), rmseIcq: Math.sqrt(sse[1] / n),
    groupsIcqLower: lower, groups,
  };
}

/** One row per source and format over all its tensors; with `perTensor`, also one row per named tensor. */
export async function fidelity(
  rt: Runtime,
  sources: { name: string; tensors: { name?: string; shape: number[]; data: Float32Array }[] }[],
  log: (r: FidelityRow) => void,
  perTensor?: (r: FidelityRow) => void,
): Promise<FidelityRow[]> {
  const rows: FidelityRow[] = [];
  for (const source of sources) {
    for (const codebook of ['nf', 'int'] as const) {
      for (const bits of [2, 3, 4] as Bits[]) {
        const spec: QuantSpec = { codebook, bits, groupSize: 64 };
        let n = 0;
        let ssePlain = 0;
        let sseIcq = 0;
        let hPlain = 0;
        let hIcq = 0;
        let lower = 0;
        let groups = 0;
        for (const t of source.tensors) {
          const [out, inF] = t.shape;
          const plain = await measure(rt, t.data, out, inF, spec);
          const icq = await measure(rt, t.data, out, inF, { ...spec, calibrate: 'icq' });
          n += t.data.length;
          ssePlain += plain.sse;
          sseIcq += icq.sse;
          const h: [number, number] = [0, 0];
          let tensorLower = 0;
          plain.entropies.forEach((e, g) => {
            h[0] += e;
            h[1] += icq.entropies[g];
            if (icq.entropies[g] < e - 1e-12) tensorLower++;
          });
          hPlain += h[0];
          hIcq += h[1];
          lower += tensorLower;
          groups += plain.entropies.length;
          if (perTensor && t.name) perTensor(row(t.name, spec, t.data.length, [plain.sse, icq.sse], h, tensorLower, plain.entropies.length));
        }
        const r = row(source.name, spec, n, [ssePlain, sseIcq], [hPlain, hIcq], lower, groups);
        rows.push(r);
        log(r);
      }
    }
  }
  return rows;
}

export function formatFidelity(r: FidelityRow): string {
  return `${r.source.padEnd(22)} ${r.spec.padEnd(10)} H ${r.entropyPlain.toFixed(4)} → ${r.entropyIcq.toFixed(4)} bits   RMSE ${r.rmsePlain.toExponential(4)} → ${r.rmseIcq.toExponential(4)}   ICQ lower on ${r.groupsIcqLower}/${r.groups} groups`;
}
