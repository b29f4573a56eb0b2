import * as fc from 'fast-check';
import { escapeLabelValue, familyHeader, formatLabels, formatValue, sampleLine } from '../../src/runtime/shared/prometheus-text';
import { parseExposition } from './prometheus-text';

describe('the Prometheus text format helper shared by the metrics proxy and the drift checker', () => {
  it('spells the non-finite values as the format defines them', () => {
    // GIVEN / WHEN / THEN
    expect(formatValue(NaN)).toBe('NaN');
    expect(formatValue(Infinity)).toBe('+Inf');
    expect(formatValue(-Infinity)).toBe('-Inf');
    expect(formatValue(0)).toBe('0');
    expect(formatValue(-0.25)).toBe('-0.25');
    expect(formatValue(1e-7)).toBe('1e-7');
  });

  it('escapes backslash, double quote and line feed in label values, and nothing else', () => {
    // GIVEN
    const value = 'a\\b"c\nd\te/f';
    // WHEN
    const escaped = escapeLabelValue(value);
    // THEN
    expect(escaped).toBe('a\\\\b\\"c\\nd\te/f');
  });

  it('writes labels in the order given, and no braces without labels', () => {
    expect(formatLabels({})).toBe('');
    expect(formatLabels({ feature: 'amount', method: 'ks' })).toBe('{feature="amount",method="ks"}');
    expect(sampleLine('mlops_drift_share', {}, 0.5)).toBe('mlops_drift_share 0.5');
    expect(sampleLine('mlops_drift_statistic', { feature: 'x"y' }, NaN)).toBe('mlops_drift_statistic{feature="x\\"y"} NaN');
  });

  it('writes lines a strict reader of the format reads back to the same labels and values', () => {
    fc.assert(fc.property(
      fc.string(), fc.oneof(fc.double(), fc.constantFrom(NaN, Infinity, -Infinity)),
      (label, value) => {
        // GIVEN a family with one sample of any label value and any double
        const text = [...familyHeader('m', 'gauge', 'any help'), sampleLine('m', { l: label }, value)].join('\n') + '\n';
        // WHEN
        const [sample] = parseExposition(text).samples;
        // THEN
        expect(sample.labels).toEqual({ l: label });
        expect(Object.is(sample.value, value) || (sample.value === 0 && value === 0)).toBe(true);
      },
    ));
  });
});
