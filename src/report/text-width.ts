// Text widths without a canvas, from Helvetica's character widths (the charts ask for Helvetica/Arial first): used to
// place chart labels and, in Node, by vega itself (see render.ts). A little generous, so that a substitute font with
// wider letters still fits. Isomorphic.

/** Advance widths of Helvetica, in thousandths of an em, for the characters ' ' (32) to '~' (126). */
const HELVETICA = [
  278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556, 556, 556,
  556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833,
  722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556,
  556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334,
  260, 334, 584,
];

/** Width in pixels of `text` at `fontSize` pixels. */
export function textWidth(text: string, fontSize: number, bold = false): number {
  let em = 0;
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    em += code >= 32 && code <= 126 ? HELVETICA[code - 32]! : 600;
  }
  return (em / 1000) * fontSize * (bold ? 1.12 : 1.05);
}
