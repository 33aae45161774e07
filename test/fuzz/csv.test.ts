// Fuzzing CSV parsing: mutated tables with their own options (label column, header, delimiter, task); then, by hand,
// a first line wide enough that sizing the features from it alone would allocate gigabytes, and odd options.
import { test } from 'node:test';
import { DataError } from '../../src/data/errors.js';
import { csvToDataset, parseCsv } from '../../src/data/csv.js';
import { assertRefusedFast, fuzzTest } from './suite.js';
import { MiB } from './target.js';

fuzzTest('csv');

test('csv: a wide first line over many short lines is refused without allocating rows x width features', () => {
  // 100k columns, then 100k one-column lines: 10^10 features (40 GB) if sized from the first line.
  const text = `${'1,'.repeat(100_000)}0\n${'1\n'.repeat(100_000)}`;
  assertRefusedFast(() => parseCsv(text, { source: 'wide.csv' }), DataError, /^wide\.csv: line 2 has 1 columns, the first row has 100001$/, { maxMs: 1000, maxBytes: 48 * MiB });
});

test('csv: an empty delimiter, and fields with line breaks in messages, stay one-line DataErrors', () => {
  assertRefusedFast(() => parseCsv('1,2\n', { source: 'd.csv', delimiter: '' }), DataError, /^d\.csv: the field delimiter is empty$/);
  assertRefusedFast(() => csvToDataset('a,b\n1\r2,0\n', { source: 'd.csv' }), DataError, /^d\.csv: line 2 column 'a': '1\\x0d2' is not a number$/);
  assertRefusedFast(() => csvToDataset('a,b\n1,x\r\n', { source: 'd.csv', labelColumn: 'c\nd' }), DataError, /^d\.csv: no column named 'c\\x0ad' \(columns: a, b\)$/);
});
