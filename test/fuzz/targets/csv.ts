// CSV (src/data/csv.ts parseCsv and csvDataset): numeric tables with and without headers, name and number labels,
// quoted fields, CRLF, other delimiters; mutations insert delimiters, quotes, line breaks and odd numbers, and each
// input comes with its own options (label column, header, delimiter, task).
import fc from 'fast-check';
import { DataError } from '../../../src/data/errors.js';
import { type CsvOptions, csvDataset, parseCsv } from '../../../src/data/csv.js';
import { type MutatedBytes, type Seed, mutatedBytes } from '../mutate.js';
import { type FuzzTarget, allocationBound } from '../target.js';

const TOKENS = ['"', '""', ',', ';', '\t', '\n', '\r\n', '\r', ',,,,,,,,', '\n\n\n', 'NaN', 'Infinity', '-Infinity', '1e999', '-0', '0x10', ' ',
  '1e-999', '9007199254740993', '-1', '2147483648', 'label', 'cat', '\u00a0', '\ufeff', '"a,b"', '"\n"', '1.5', '3', '0'];

const TEXTS: [string, string][] = [
  ['numbers, last column label', '0.1,0.2,1\n0.3,0.4,0\n0.5,0.6,2\n'],
  ['header, names', 'a,b,label\n1,2,cat\n3,4,dog\n5,6,cat\n'],
  ['quoted, CRLF', 'x,"y, z",class\r\n1,"2",0\r\n3,"4",1\r\n'],
  ['regression', 'f1,f2,target\n1,2,0.5\n3,4,-1.25\n'],
  ['label first', 'label,p1,p2,p3\n1,0,0,1\n0,1,1,0\n'],
  ['semicolons', '1;2;0\n3;4;1\n'],
];

export interface CsvInput extends MutatedBytes {
  options: CsvOptions;
}

export const csvTarget: FuzzTarget<CsvInput> = {
  name: 'csv',
  parsers: 'parseCsv and csvDataset (src/data/csv.ts): fields, quotes, headers, label column, classes and targets',
  open() {
    const enc = new TextEncoder();
    const seeds: Seed[] = TEXTS.map(([name, text]) => ({ name, bytes: enc.encode(text) }));
    const options = fc.record({
      labelColumn: fc.constantFrom(undefined, 0, -1, 1, 2, -3, 7, 'label', 'target', 'nope'),
      header: fc.constantFrom(undefined, true, false),
      delimiter: fc.constantFrom(undefined, ',', ';', '\t', '::'),
      task: fc.constantFrom(undefined, 'classification' as const, 'regression' as const),
      classes: fc.constantFrom(undefined, 1, 2, 3, 100),
    }, { requiredKeys: [] });
    const inputs = fc.tuple(mutatedBytes(seeds, { maxOps: 4, tokens: TOKENS }), fc.oneof({ arbitrary: fc.constant({}), weight: 2 }, { arbitrary: options, weight: 1 }))
      .map(([m, o]): CsvInput => ({ ...m, options: o }));
    return {
      inputs,
      seeds: seeds.map((s) => ({ seed: s.name, ops: [], bytes: s.bytes, options: s.name === 'semicolons' ? { delimiter: ';' } : {} })),
      run: (input) => { csvDataset(parseCsv(input.bytes, { ...input.options, source: 'fuzz.csv' }), input.options); },
      expected: [DataError],
      messagePrefix: /^fuzz\.csv/,
      bytesOf: (input) => input.bytes,
      // Lines, fields and labels as JavaScript strings, features as float32: tens of bytes per byte of text.
      allocationBound: (input) => allocationBound(input.bytes.length, 256),
    };
  },
};
