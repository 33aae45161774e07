// The trade-off between cost (bytes, ms, MACs: lower is better) and score (accuracy: higher is better) over the
// measured trials: the non-dominated points, and the cheapest point that keeps a score.

/**
 * The points no other point beats: none is at most as costly and at least as good while better in one of the two.
 * Sorted by cost (ascending; scores then ascend too). Of points with equal cost and equal score only the first
 * given is kept. Points whose cost or score is not a number (failed trials) are left out.
 */
export function paretoFront<T>(points: readonly T[], cost: (point: T) => number, score: (point: T) => number): T[] {
  const ranked = measured(points, cost, score).sort((a, b) => a.cost - b.cost || b.score - a.score || a.order - b.order);
  const front: T[] = [];
  let bestScore = -Infinity;
  for (const entry of ranked) {
    // Sorted by cost, then better score first: a point survives only by beating every cheaper-or-equal one.
    if (entry.score > bestScore || front.length === 0) {
      front.push(entry.point);
      bestScore = entry.score;
    }
  }
  return front;
}

/**
 * The cheapest point whose score is at least minScore; among equally cheap ones the higher score, then the first
 * given. Undefined when none qualifies. Points whose cost or score is not a number are left out.
 */
export function bestWithin<T>(
  points: readonly T[],
  cost: (point: T) => number,
  score: (point: T) => number,
  minScore: number,
): T | undefined {
  let best: { point: T; cost: number; score: number } | undefined;
  for (const entry of measured(points, cost, score)) {
    if (!(entry.score >= minScore)) continue;
    if (!best || entry.cost < best.cost || (entry.cost === best.cost && entry.score > best.score)) best = entry;
  }
  return best?.point;
}

function measured<T>(points: readonly T[], cost: (point: T) => number, score: (point: T) => number) {
  return points
    .map((point, order) => ({ point, cost: cost(point), score: score(point), order }))
    .filter((entry) => !Number.isNaN(entry.cost) && !Number.isNaN(entry.score));
}
