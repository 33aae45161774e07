// Memory of big runs. A pass that replaces a 1 GB model's float weights leaves them as garbage that V8 collects only
// when it decides to; onnxruntime's allocations (outside V8's heap) do not prompt it. Collecting at the points where
// a big model's old weights have just become garbage keeps the peak near the model's size instead of twice it.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let collect: (() => void) | undefined;

/** Runs a full garbage collection now (Node's gc(), made available without the --expose-gc flag). */
export function collectGarbage(): void {
  if (!collect) {
    setFlagsFromString('--expose-gc');
    collect = runInNewContext('gc') as () => void;
  }
  collect();
}
