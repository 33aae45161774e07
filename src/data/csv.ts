// CSV files of numbers with one label column -> TensorDataset. Labels may be numbers (class indices or regression
// targets) or names (classes, indexed in alphabetical order, as image-folder classes are).
import { TensorDataset, labelRangeError } from './dataset.js';
import { DataError } from './errors.js';

export interface CsvOptions {
  /** The label column: a header name, or an index (negative counts from the end). Default: the last column. */
  labelColumn?: string | number;
  /** Whether the first row names the columns. Default: detected (a header row has text where the data has numbers). */
  header?: boolean;
  /** Field separator (default ','). */
  delimiter?: string;
  /** Default: classification when every label is a non-negative integer or a name, regression otherwise. */
  task?: 'classification' | 'regression';
  /** Number of classes for numeric class labels (default: the largest label + 1). */
  classes?: number;
  /** Class names in label order, for name labels (default: the names found, sorted). */
  classNames?: readonly string[];
  /** The file name, for messages. */
  source?: string;
}

/** A parsed CSV: the feature columns as numbers, the label column as text (decided on by csvDataset). */
export interface CsvTable {
  source: string;
  /** Column names, when the file has a header. */
  columns?: string[];
  labelColumn: number;
  rows: number;
  featureCount: number;
  /** rows * featureCount values, row after row. */
  features: Float32Array;
  labels: string[];
  /** Physical line number (1-based) of each row, for messages. */
  lineOfRow: Int32Array;
}

/** Splits one CSV line; double-quoted fields may hold the delimiter and "" for a quote. */
function splitLine(line: string, delimiter: string): string[] {
  if (!line.includes('"')) return line.split(delimiter);
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') { field += '"'; i++; } else if (c === '"') quoted = false; else field += c;
    } else if (c === '"') quoted = true;
    else if (line.startsWith(delimiter, i)) { fields.push(field); field = ''; i += delimiter.length - 1; } else field += c;
  }
  fields.push(field);
  return fields;
}

function isNumber(text: string): boolean {
  const t = text.trim();
  return t !== '' && Number.isFinite(Number(t));
}

/** Parses CSV text (or UTF-8 bytes) into features and label texts. */
export function parseCsv(input: string | Uint8Array, options: CsvOptions = {}): CsvTable {
  const source = options.source ?? 'CSV data';
  const delimiter = options.delimiter ?? ',';
  if (delimiter === '') throw new DataError(`${source}: the field delimiter is empty`);
  const text = typeof input === 'string' ? input : new TextDecoder().decode(input);
  const lines = text.split('\n');
  const lineNumbers: number[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.endsWith('\r')) lines[i] = lines[i]!.slice(0, -1);
    if (lines[i]!.trim() !== '') lineNumbers.push(i);
  }
  if (lineNumbers.length === 0) throw new DataError(`${source}: the file has no rows`);
  const first = splitLine(lines[lineNumbers[0]!]!, delimiter).map((f) => f.trim());
  const width = first.length;
  if (width < 2) throw new DataError(`${source}: line ${lineNumbers[0]! + 1} has ${width} column; a data set needs at least one feature and a label (delimiter '${delimiter}')`);
  const labelColumn = resolveLabelColumn(options.labelColumn, first, width, source, options.header);
  const header = options.header ?? (typeof options.labelColumn === 'string' || looksLikeHeader(first, labelColumn, lineNumbers, lines, delimiter));
  const columns = header ? first : undefined;
  const dataLines = header ? lineNumbers.slice(1) : lineNumbers;
  const rows = dataLines.length;
  const featureCount = width - 1;
  // Every feature takes a character and a delimiter: more features than that means a short line further down,
  // and the features must not be allocated from the first line's width alone.
  if (rows * featureCount * (1 + delimiter.length) > text.length + rows) {
    for (const lineIndex of dataLines) checkWidth(splitLine(lines[lineIndex]!, delimiter).length, lineIndex, width, source);
  }
  const features = new Float32Array(rows * featureCount);
  const labels = new Array<string>(rows);
  const lineOfRow = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const lineIndex = dataLines[r]!;
    const fields = splitLine(lines[lineIndex]!, delimiter);
    lineOfRow[r] = lineIndex + 1;
    checkWidth(fields.length, lineIndex, width, source);
    let p = r * featureCount;
    for (let c = 0; c < width; c++) {
      const field = fields[c]!;
      if (c === labelColumn) {
        labels[r] = field.trim();
        if (labels[r] === '') throw new DataError(`${source}: line ${lineIndex + 1} has no label (column ${columns ? `'${columns[c]}'` : c + 1} is empty)`);
        continue;
      }
      const value = Number(field);
      if (!Number.isFinite(value) || field.trim() === '') {
        const name = columns ? `'${columns[c]}'` : `${c + 1}`;
        throw new DataError(`${source}: line ${lineIndex + 1} column ${name}: '${field.trim()}' is not a number`);
      }
      features[p++] = value;
    }
  }
  return { source, columns, labelColumn, rows, featureCount, features, labels, lineOfRow };
}

function checkWidth(fields: number, lineIndex: number, width: number, source: string): void {
  if (fields !== width) throw new DataError(`${source}: line ${lineIndex + 1} has ${fields} columns, the first row has ${width}`);
}

function resolveLabelColumn(column: string | number | undefined, first: string[], width: number, source: string, header?: boolean): number {
  if (typeof column === 'string') {
    if (header === false) throw new DataError(`${source}: label column '${column}' needs a header row`);
    const index = first.indexOf(column);
    if (index < 0) throw new DataError(`${source}: no column named '${column}' (columns: ${first.join(', ')})`);
    return index;
  }
  const index = column === undefined ? width - 1 : column < 0 ? width + column : column;
  if (!Number.isInteger(index) || index < 0 || index >= width) throw new DataError(`${source}: label column ${column} is outside the ${width} columns`);
  return index;
}

// A header has text where the data has numbers: in a feature column, or in the label column when the next row's label is a number.
function looksLikeHeader(first: string[], labelColumn: number, lineNumbers: number[], lines: string[], delimiter: string): boolean {
  if (first.some((f, c) => c !== labelColumn && !isNumber(f))) return true;
  if (isNumber(first[labelColumn]!) || lineNumbers.length < 2) return false;
  const second = splitLine(lines[lineNumbers[1]!]!, delimiter);
  return second[labelColumn] !== undefined && isNumber(second[labelColumn]!);
}

export type CsvLabelKind = { kind: 'names'; names: string[] } | { kind: 'classes'; largest: number } | { kind: 'targets' };

/** What the label column holds: names (sorted, distinct), non-negative integers (their largest), or other numbers. */
export function csvLabelKind(table: CsvTable): CsvLabelKind {
  if (table.labels.some((l) => !isNumber(l))) return { kind: 'names', names: [...new Set(table.labels)].sort() };
  let largest = -1;
  for (const l of table.labels) {
    const v = Number(l);
    if (!Number.isInteger(v) || v < 0) return { kind: 'targets' };
    largest = Math.max(largest, v);
  }
  return { kind: 'classes', largest };
}

/** A data set of [featureCount] samples from a parsed CSV. */
export function csvDataset(table: CsvTable, options: Pick<CsvOptions, 'task' | 'classes' | 'classNames'> = {}): TensorDataset {
  const { source, rows } = table;
  const kind = csvLabelKind(table);
  const task = options.task ?? (kind.kind === 'targets' ? 'regression' : 'classification');
  const labelName = table.columns ? `'${table.columns[table.labelColumn]}'` : `${table.labelColumn + 1}`;
  const common = { inputs: table.features, sampleShape: [table.featureCount], source };
  if (task === 'regression') {
    if (kind.kind === 'names') {
      const r = table.labels.findIndex((l) => !isNumber(l));
      throw new DataError(`${source}: line ${table.lineOfRow[r]} label column ${labelName}: '${table.labels[r]}' is not a number, and regression needs numbers`);
    }
    return new TensorDataset({ ...common, labels: Float32Array.from(table.labels, Number) });
  }
  const labels = new Int32Array(rows);
  if (kind.kind === 'names') {
    const classNames = options.classNames ?? kind.names;
    const index = new Map(classNames.map((n, i) => [n, i]));
    for (let r = 0; r < rows; r++) {
      const i = index.get(table.labels[r]!);
      if (i === undefined) throw new DataError(`${source}: line ${table.lineOfRow[r]}: label '${table.labels[r]}' is not one of the classes ${classNames.join(', ')}`);
      labels[r] = i;
    }
    return new TensorDataset({ ...common, labels, classNames });
  }
  for (let r = 0; r < rows; r++) {
    const v = Number(table.labels[r]);
    if (!Number.isInteger(v) || v < 0 || (options.classes !== undefined && v >= options.classes)) {
      throw labelRangeError(`${source}: line ${table.lineOfRow[r]}`, v, r, options.classes);
    }
    labels[r] = v;
  }
  return new TensorDataset({ ...common, labels, classes: options.classes, classNames: options.classNames });
}

/** Parses CSV text into a data set (see CsvOptions for the label column, header and task). */
export function csvToDataset(input: string | Uint8Array, options: CsvOptions = {}): TensorDataset {
  return csvDataset(parseCsv(input, options), options);
}
