/** One sample of a scrape. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Exposition {
  readonly samples: readonly Sample[];
  /** Metric family name -> TYPE. */
  readonly types: ReadonlyMap<string, string>;
  readonly help: ReadonlyMap<string, string>;
  /** The value of the one sample with exactly these labels; throws when there is none. */
  value(name: string, labels?: Record<string, string>): number;
  /** Like `value`, but 0 when the sample is absent (a counter not yet incremented). */
  valueOr0(name: string, labels?: Record<string, string>): number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y;
const SUFFIXES = ['_bucket', '_sum', '_count'];

/**
 * A strict reader of text exposition format 0.0.4: every sample must belong to a family
 * announced by one # TYPE line before it, and every line must parse, so a malformed
 * /metrics fails the test instead of being skipped.
 */
export function parseExposition(text: string): Exposition {
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  text.slice(0, -1).split('\n').forEach((line, index) => {
    const where = `line ${index + 1} (${JSON.stringify(line)})`;
    const comment = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (comment) {
      const [, kind, family, rest] = comment;
      const target = kind === 'TYPE' ? types : help;
      if (target.has(family)) throw new Error(`${where}: second ${kind} for ${family}`);
      if (kind === 'TYPE' && !['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`${where}: unknown type`);
      target.set(family, rest);
      return;
    }
    const match = SAMPLE.exec(line);
    if (!match) throw new Error(`${where}: not a sample`);
    const [, name, labelText, valueText] = match;
    const labels: Record<string, string> = {};
    if (labelText !== undefined && labelText !== '') {
      LABEL.lastIndex = 0;
      while (LABEL.lastIndex < labelText.length) {
        const label = LABEL.exec(labelText);
        if (!label) throw new Error(`${where}: bad labels`);
        if (label[1] in labels) throw new Error(`${where}: label ${label[1]} twice`);
        labels[label[1]] = label[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      }
    }
    const value = valueText === '+Inf' ? Infinity : valueText === '-Inf' ? -Infinity : Number(valueText);
    if (Number.isNaN(value) && valueText !== 'NaN') throw new Error(`${where}: bad value`);
    const family = types.has(name) ? name : SUFFIXES.map((s) => (name.endsWith(s) ? name.slice(0, -s.length) : '')).find((f) => f !== '' && types.get(f) === 'histogram');
    if (family === undefined) throw new Error(`${where}: sample before its # TYPE line`);
    samples.push({ name, labels, value });
  });

  const find = (name: string, labels: Record<string, string>) => samples.filter((s) => s.name === name
    && Object.keys(s.labels).length === Object.keys(labels).length
    && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return {
    samples,
    types,
    help,
    value: (name, labels = {}) => {
      const found = find(name, labels);
      if (found.length !== 1) throw new Error(`expected one sample ${name}${JSON.stringify(labels)}, found ${found.length}`);
      return found[0].value;
    },
    valueOr0: (name, labels = {}) => {
      const found = find(name, labels);
      if (found.length > 1) throw new Error(`expected at most one sample ${name}${JSON.stringify(labels)}, found ${found.length}`);
      return found.length === 0 ? 0 : found[0].value;
    },
  };
}
