// Reading vega's SVG output in tests: the data-mark groups (<g class="mark-TYPE role-mark ...">) and their items.
// Their items (path, text, line) hold no nested groups, so a group ends at the first </g>.

export interface MarkGroup {
  /** rect, symbol, line, text, rule, ... */
  type: string;
  /** The items' markup, one per data mark. */
  items: string[];
}

export function markGroups(svg: string): MarkGroup[] {
  const groups: MarkGroup[] = [];
  for (const m of svg.matchAll(/<g class="mark-(\w+) role-mark[^"]*"[^>]*>(.*?)<\/g>/gs)) {
    groups.push({ type: m[1]!, items: [...m[2]!.matchAll(/<(path|text|line)\b[^>]*?(?:\/>|>.*?<\/\1>)/gs)].map((i) => i[0]) });
  }
  return groups;
}

/** Item counts by mark type, groups in order: e.g. ['rect:9', 'text:9']. */
export function markSummary(svg: string): string[] {
  return markGroups(svg).map((g) => `${g.type}:${g.items.length}`);
}

/** Height of a bar drawn as vega draws rects: d="Mx,yhWvHh-WZ". */
export function barHeight(item: string): number {
  const m = /d="M[-\d.e]+,[-\d.e]+h[-\d.e]+v([-\d.e]+)h/.exec(item);
  if (!m) throw new Error(`not a vega rect: ${item.slice(0, 120)}`);
  return Number(m[1]);
}

/** The text of a text item. */
export function textOf(item: string): string {
  return item.replace(/<[^>]+>/g, '');
}
