// The live loss chart (uPlot): the training loss per step as a line, the validation loss as points.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export class LossChart {
  private readonly steps: number[] = [];
  private readonly train: (number | null)[] = [];
  private readonly valid: (number | null)[] = [];
  private readonly plot: uPlot;

  constructor(parent: HTMLElement) {
    this.plot = new uPlot({
      width: Math.min(parent.clientWidth || 640, 720), height: 220,
      scales: { x: { time: false } },
      axes: [{ label: 'step' }, { label: 'loss (nats)' }],
      series: [
        { label: 'step' },
        { label: 'train', stroke: '#2a6fdb', width: 2 },
        { label: 'validation', stroke: '#d9480f', width: 0, points: { show: true, size: 8, fill: '#d9480f' } },
      ],
    }, [[], [], []], parent);
  }

  clear(): void {
    this.steps.length = this.train.length = this.valid.length = 0;
    this.redraw();
  }

  add(step: number, train: number | null, valid: number | null = null): void {
    const i = this.steps.indexOf(step);
    if (i >= 0) {
      if (train !== null) this.train[i] = train;
      if (valid !== null) this.valid[i] = valid;
    } else {
      this.steps.push(step);
      this.train.push(train);
      this.valid.push(valid);
    }
    this.redraw();
  }

  private redraw(): void {
    this.plot.setData([this.steps, this.train, this.valid]);
  }
}
