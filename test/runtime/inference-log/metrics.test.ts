import { InferenceLogMetrics, renderModelInfo } from '../../../src/runtime/metrics-proxy/inference-log/metrics';
import { parseExposition } from '../prometheus-text';

describe('InferenceLogMetrics', () => {
  test('exports every outcome and part from the start at 0', () => {
    // GIVEN metrics of a log that has done nothing
    const exposition = parseExposition(new InferenceLogMetrics('fraud-detector', () => 0).render());
    // THEN
    expect(exposition.samples).toEqual([
      { name: 'mlops_inference_log_records_total', labels: { model: 'fraud-detector', outcome: 'written' }, value: 0 },
      { name: 'mlops_inference_log_records_total', labels: { model: 'fraud-detector', outcome: 'dropped_buffer_full' }, value: 0 },
      { name: 'mlops_inference_log_records_total', labels: { model: 'fraud-detector', outcome: 'dropped_upload_failed' }, value: 0 },
      { name: 'mlops_inference_log_unparsed_total', labels: { model: 'fraud-detector', part: 'request' }, value: 0 },
      { name: 'mlops_inference_log_unparsed_total', labels: { model: 'fraud-detector', part: 'response' }, value: 0 },
      { name: 'mlops_inference_log_objects_total', labels: { model: 'fraud-detector' }, value: 0 },
      { name: 'mlops_inference_log_buffered_records', labels: { model: 'fraud-detector' }, value: 0 },
    ]);
    expect(Object.fromEntries(exposition.types)).toEqual({
      mlops_inference_log_records_total: 'counter',
      mlops_inference_log_unparsed_total: 'counter',
      mlops_inference_log_objects_total: 'counter',
      mlops_inference_log_buffered_records: 'gauge',
    });
  });

  test('counts what it is told and reads the buffer at each render', () => {
    let buffered = 7;
    const metrics = new InferenceLogMetrics('m"1', () => buffered);
    metrics.countRecords('written', 3);
    metrics.countRecords('written', 2);
    metrics.countRecords('dropped_buffer_full', 4);
    metrics.countUnparsed('response');
    metrics.countObject();
    buffered = 9;
    const exposition = parseExposition(metrics.render());
    expect(exposition.value('mlops_inference_log_records_total', { model: 'm"1', outcome: 'written' })).toBe(5);
    expect(exposition.value('mlops_inference_log_records_total', { model: 'm"1', outcome: 'dropped_buffer_full' })).toBe(4);
    expect(exposition.value('mlops_inference_log_unparsed_total', { model: 'm"1', part: 'response' })).toBe(1);
    expect(exposition.value('mlops_inference_log_objects_total', { model: 'm"1' })).toBe(1);
    expect(exposition.value('mlops_inference_log_buffered_records', { model: 'm"1' })).toBe(9);
    expect(metrics.recordsOf('written')).toBe(5);
  });
});

describe('renderModelInfo', () => {
  test('is the gauge line 1 with model and version, HELP and TYPE before it', () => {
    const text = renderModelInfo('fraud-detector', '3');
    expect(text.split('\n')[2]).toBe('mlops_model_info{model="fraud-detector",version="3"} 1');
    const exposition = parseExposition(text);
    expect(exposition.types.get('mlops_model_info')).toBe('gauge');
    expect(exposition.value('mlops_model_info', { model: 'fraud-detector', version: '3' })).toBe(1);
  });
});
