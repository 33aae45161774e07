import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bestWithin, paretoFront } from '../../../src/compress/auto/pareto.js';

interface Point {
  name: string;
  bytes: number;
  accuracy: number;
}
const p = (name: string, bytes: number, accuracy: number): Point => ({ name, bytes, accuracy });
const bytes = (x: Point) => x.bytes;
const accuracy = (x: Point) => x.accuracy;
const names = (points: Point[]) => points.map((x) => x.name);

test('the front keeps the non-dominated points, sorted by cost', () => {
  const points = [
    p('big', 100, 0.99),
    p('mid', 50, 0.97),
    p('dominated', 60, 0.96), // costlier and worse than mid
    p('small', 20, 0.9),
    p('tiny-bad', 25, 0.85), // costlier and worse than small
    p('huge-same', 120, 0.99), // as good as big but costlier
  ];
  assert.deepEqual(names(paretoFront(points, bytes, accuracy)), ['small', 'mid', 'big']);
});

test('ties: equal cost keeps the higher score; an exact duplicate keeps the first given', () => {
  const points = [p('a', 10, 0.8), p('b', 10, 0.9), p('c', 10, 0.9), p('d', 30, 0.9), p('e', 40, 0.95)];
  assert.deepEqual(names(paretoFront(points, bytes, accuracy)), ['b', 'e']);
});

test('failed points (NaN) are left out; an empty list gives an empty front', () => {
  const points = [p('nan-score', 5, NaN), p('nan-cost', NaN, 1), p('ok', 10, 0.5)];
  assert.deepEqual(names(paretoFront(points, bytes, accuracy)), ['ok']);
  assert.deepEqual(paretoFront([], bytes, accuracy), []);
});

test('the front is the set no point dominates (random points against the definition)', () => {
  let seed = 7;
  const next = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const points = Array.from({ length: 200 }, (_, i) => p(`p${i}`, Math.floor(next() * 50), Math.floor(next() * 50) / 50));
  const front = paretoFront(points, bytes, accuracy);
  const dominates = (a: Point, b: Point) => a.bytes <= b.bytes && a.accuracy >= b.accuracy && (a.bytes < b.bytes || a.accuracy > b.accuracy);
  for (const x of points) {
    const dominated = points.some((y) => dominates(y, x));
    const duplicateOfFront = front.some((f) => f !== x && f.bytes === x.bytes && f.accuracy === x.accuracy);
    assert.equal(front.includes(x), !dominated && !duplicateOfFront, x.name);
  }
  for (let i = 1; i < front.length; i++) {
    assert.ok(front[i]!.bytes > front[i - 1]!.bytes && front[i]!.accuracy > front[i - 1]!.accuracy);
  }
});

test('bestWithin: the cheapest point that keeps the score, higher score on equal cost', () => {
  const points = [p('big', 100, 0.99), p('mid', 50, 0.97), p('mid-better', 50, 0.975), p('small', 20, 0.9), p('nan', 1, NaN)];
  assert.equal(bestWithin(points, bytes, accuracy, 0.97)?.name, 'mid-better');
  assert.equal(bestWithin(points, bytes, accuracy, 0.9)?.name, 'small');
  assert.equal(bestWithin(points, bytes, accuracy, 0.98)?.name, 'big');
  assert.equal(bestWithin(points, bytes, accuracy, 0.995), undefined);
  assert.equal(bestWithin([], bytes, accuracy, 0), undefined);
  // Equal cost and score: the first given.
  assert.equal(bestWithin([p('first', 5, 0.5), p('second', 5, 0.5)], bytes, accuracy, 0.5)?.name, 'first');
});
