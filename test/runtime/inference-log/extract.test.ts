import * as fc from 'fast-check';
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { type Bodies, type ExtractOptions, extractRows, readPredictionsOf, recordLines, valueAt } from '../../../src/runtime/metrics-proxy/inference-log/extract';

const OPTIONS: ExtractOptions = { maxDecodedBytes: 1024 * 1024 };
const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const bodies = (request: unknown, response: unknown, extra: Partial<Bodies> = {}): Bodies => ({
  requestBody: Buffer.isBuffer(request) ? request : json(request),
  responseBody: Buffer.isBuffer(response) ? response : json(response),
  code: 200,
  ...extra,
});

describe('extractRows: MLflow request formats', () => {
  test.each([
    ['dataframe_split', { dataframe_split: { columns: ['amount', 'country'], data: [[12.5, 'DE'], [3, 'FR']] } }],
    ['dataframe_split with an index', { dataframe_split: { index: [7, 8], columns: ['amount', 'country'], data: [[12.5, 'DE'], [3, 'FR']] } }],
    ['dataframe_records', { dataframe_records: [{ amount: 12.5, country: 'DE' }, { amount: 3, country: 'FR' }] }],
    ['instances as objects', { instances: [{ amount: 12.5, country: 'DE' }, { amount: 3, country: 'FR' }] }],
    ['inputs as objects', { inputs: [{ amount: 12.5, country: 'DE' }, { amount: 3, country: 'FR' }] }],
    ['inputs as columns', { inputs: { amount: [12.5, 3], country: ['DE', 'FR'] } }],
    ['instances as columns', { instances: { amount: [12.5, 3], country: ['DE', 'FR'] } }],
    ['params next to the inputs', { dataframe_records: [{ amount: 12.5, country: 'DE' }, { amount: 3, country: 'FR' }], params: { threshold: 0.3 } }],
    ['MLflow 1 pandas-split without the wrapper', { columns: ['amount', 'country'], data: [[12.5, 'DE'], [3, 'FR']] }],
    ['MLflow 1 pandas-records without the wrapper', [{ amount: 12.5, country: 'DE' }, { amount: 3, country: 'FR' }]],
  ])('reads %s as named features next to scalar predictions', (_name, request) => {
    // WHEN
    const extraction = extractRows(bodies(request, { predictions: [0, 1] }), OPTIONS);
    // THEN
    expect(extraction).toEqual({
      rows: [{ amount: 12.5, country: 'DE', prediction: 0 }, { amount: 3, country: 'FR', prediction: 1 }],
      unparsed: [],
    });
  });

  test.each([
    ['instances as lists', { instances: [[12.5, 'DE'], [3, 'FR']] }],
    ['inputs as lists', { inputs: [[12.5, 'DE'], [3, 'FR']] }],
    ['dataframe_split without columns', { dataframe_split: { data: [[12.5, 'DE'], [3, 'FR']] } }],
  ])('names the positional features of %s "0", "1", ... as pandas does', (_name, request) => {
    const extraction = extractRows(bodies(request, { predictions: [0, 1] }), OPTIONS);
    expect(extraction.rows).toEqual([{ 0: 12.5, 1: 'DE', prediction: 0 }, { 0: 3, 1: 'FR', prediction: 1 }]);
  });

  test('reads a list of scalars as one feature per row', () => {
    expect(extractRows(bodies({ instances: [1.5, 2.5] }, { predictions: [10, 20] }), OPTIONS).rows)
      .toEqual([{ 0: 1.5, prediction: 10 }, { 0: 2.5, prediction: 20 }]);
  });

  test('reads a dict of scalars as one row, and keeps nested values (tensors) as they are', () => {
    expect(extractRows(bodies({ inputs: { amount: 3, country: 'DE' } }, { predictions: [1] }), OPTIONS).rows)
      .toEqual([{ amount: 3, country: 'DE', prediction: 1 }]);
    expect(extractRows(bodies({ inputs: [[[1, 2], [3, 4]]] }, { predictions: [[0.1, 0.9]] }), OPTIONS).rows)
      .toEqual([{ 0: [1, 2], 1: [3, 4], prediction_0: 0.1, prediction_1: 0.9 }]);
  });

  test('reads text/csv with a header, numbers as numbers and empty fields as null', () => {
    // GIVEN a CSV body as MLflow's scoring server accepts it, with quoting and CRLF
    const csv = Buffer.from('amount,country,note\r\n12.5,DE,"a ""quoted"", note"\r\n3,,\r\n');
    // WHEN
    const extraction = extractRows(bodies(csv, { predictions: [0, 1] }, { requestContentType: 'text/csv; charset=utf-8' }), OPTIONS);
    // THEN
    expect(extraction.rows).toEqual([
      { amount: 12.5, country: 'DE', note: 'a "quoted", note', prediction: 0 },
      { amount: 3, country: null, note: null, prediction: 1 },
    ]);
  });

  test('keeps a feature named __proto__ as data', () => {
    const split = extractRows(bodies(Buffer.from('{"dataframe_split": {"columns": ["__proto__", "a"], "data": [[1, 2]]}}'), { predictions: [0] }), OPTIONS);
    const columns = extractRows(bodies(Buffer.from('{"inputs": {"__proto__": [1], "a": [2]}}'), { predictions: [0] }), OPTIONS);
    for (const extraction of [split, columns]) {
      const [line] = recordLines(extraction, { timestamp: 't', model: 'm', version: '1', code: 200, latencySeconds: 0, requestId: 'r' });
      expect(line).toBe('{"_timestamp":"t","_model":"m","_version":"1","_request_id":"r","_code":200,"_latency_seconds":0,"__proto__":1,"a":2,"prediction":0}');
    }
  });

  test('returns no rows for an empty batch', () => {
    expect(extractRows(bodies({ dataframe_split: { columns: ['a'], data: [] } }, { predictions: [] }), OPTIONS)).toEqual({ rows: [], unparsed: [] });
  });
});

describe('extractRows: predictions', () => {
  const request = { dataframe_records: [{ a: 1 }, { a: 2 }] };

  test.each([
    ['a bare list', [0.2, 0.8], [{ prediction: 0.2 }, { prediction: 0.8 }]],
    ['strings (class labels)', { predictions: ['fraud', 'ok'] }, [{ prediction: 'fraud' }, { prediction: 'ok' }]],
    ['lists of one value, as (n, 1) outputs', { predictions: [[0.2], [0.8]] }, [{ prediction: 0.2 }, { prediction: 0.8 }]],
    ['lists per row (probabilities)', { predictions: [[0.9, 0.1], [0.3, 0.7]] }, [{ prediction_0: 0.9, prediction_1: 0.1 }, { prediction_0: 0.3, prediction_1: 0.7 }]],
    ['objects per row (a DataFrame output)', { predictions: [{ label: 1, score: 0.9 }, { label: 0, score: 0.2 }] },
      [{ prediction_label: 1, prediction_score: 0.9 }, { prediction_label: 0, prediction_score: 0.2 }]],
    ['columns (a dict of tensors)', { predictions: { label: [1, 0], score: [0.9, 0.2] } },
      [{ prediction_label: 1, prediction_score: 0.9 }, { prediction_label: 0, prediction_score: 0.2 }]],
    ['Python\'s NaN and Infinity words', Buffer.from('{"predictions": [NaN, -Infinity], "note": "NaN stays in strings"}'), [{ prediction: null }, { prediction: null }]],
  ])('reads %s', (_name, response, expected) => {
    const extraction = extractRows(bodies(request, response), OPTIONS);
    expect(extraction.unparsed).toEqual([]);
    expect(extraction.rows).toEqual(expected.map((p, i) => ({ a: i + 1, ...p })));
  });

  test('a prediction named like a feature wins over the feature', () => {
    expect(extractRows(bodies({ dataframe_records: [{ prediction: 'from the client' }] }, { predictions: [1] }), OPTIONS).rows)
      .toEqual([{ prediction: 1 }]);
  });
});

describe('extractRows: custom runtimes (dotted paths)', () => {
  test('finds the rows and the predictions at their paths, a number indexing a list', () => {
    // GIVEN a runtime with its own envelope
    const options = { ...OPTIONS, requestPath: 'data.rows', responsePath: 'result.0.scores' };
    const request = { data: { rows: [{ amount: 1 }, { amount: 2 }], meta: { client: 'x' } } };
    const response = { result: [{ scores: [0.4, 0.6] }] };
    // WHEN / THEN
    expect(extractRows(bodies(request, response), options)).toEqual({
      rows: [{ amount: 1, prediction: 0.4 }, { amount: 2, prediction: 0.6 }],
      unparsed: [],
    });
  });

  test('a single scalar answer is the prediction of a one-row request', () => {
    const options = { ...OPTIONS, requestPath: 'features', responsePath: 'score' };
    expect(extractRows(bodies({ features: { amount: 3 } }, { score: 0.7 }), options).rows).toEqual([{ amount: 3, prediction: 0.7 }]);
  });

  test('a missing path is unparsed, not an error', () => {
    const options = { ...OPTIONS, requestPath: 'data.rows', responsePath: 'result.scores' };
    expect(extractRows(bodies({ data: {} }, { other: 1 }), options)).toEqual({ rows: [{}], unparsed: ['request', 'response'] });
  });

  test('valueAt walks objects and lists only', () => {
    expect(valueAt({ a: [{ b: 2 }] }, 'a.0.b')).toBe(2);
    expect(valueAt({ a: [{ b: 2 }] }, 'a.1.b')).toBeUndefined();
    expect(valueAt({ a: 'text' }, 'a.length')).toBeUndefined();
    expect(valueAt({}, 'toString')).toBeUndefined();
  });
});

describe('extractRows: bodies it cannot read', () => {
  const request = { dataframe_records: [{ a: 1 }, { a: 2 }] };
  const predictions = { predictions: [0, 1] };

  test.each([
    ['not JSON', Buffer.from('amount=3&country=DE')],
    ['empty', Buffer.alloc(0)],
    ['an unknown envelope', json({ rows: [{ a: 1 }, { a: 2 }] })],
    ['dataframe_split rows of the wrong width', json({ dataframe_split: { columns: ['a', 'b'], data: [[1, 2], [3]] } })],
    ['dataframe_split without data', json({ dataframe_split: { columns: ['a'] } })],
    ['dataframe_records that are not objects', json({ dataframe_records: [1, 2] })],
    ['instances of mixed shapes', json({ instances: [{ a: 1 }, [2]] })],
    ['columns of different lengths', json({ inputs: { a: [1, 2], b: [3] } })],
    ['a scalar', json({ inputs: 5 })],
    ['JSON truncated in the middle', Buffer.from('{"dataframe_records": [{"a": 1}, {"a"')],
  ])('logs the predictions alone when the request is %s', (_name, requestBody) => {
    expect(extractRows(bodies(requestBody, predictions), OPTIONS)).toEqual({ rows: [{ prediction: 0 }, { prediction: 1 }], unparsed: ['request'] });
  });

  test.each([
    ['not JSON', Buffer.from('<html>oops</html>')],
    ['an unknown envelope', json({ outputs: [0, 1] })],
    ['one prediction short', json({ predictions: [0] })],
    ['one prediction too many', json({ predictions: [0, 1, 1] })],
    ['of mixed shapes', json({ predictions: [0, [1]] })],
  ])('logs the features alone when the response is %s', (_name, responseBody) => {
    expect(extractRows(bodies(request, responseBody), OPTIONS)).toEqual({ rows: [{ a: 1 }, { a: 2 }], unparsed: ['response'] });
  });

  test('a body that was not captured (too large) is unparsed', () => {
    expect(extractRows({ requestBody: undefined, responseBody: json(predictions), code: 200 }, OPTIONS).unparsed).toEqual(['request']);
    expect(extractRows({ requestBody: json(request), responseBody: undefined, code: 200 }, OPTIONS).unparsed).toEqual(['response']);
  });

  test('neither body gives one row without features or predictions', () => {
    expect(extractRows(bodies(Buffer.from('x'), Buffer.from('y')), OPTIONS)).toEqual({ rows: [{}], unparsed: ['request', 'response'] });
  });

  test('a response other than 2xx is an error, not predictions: features only, nothing unparsed', () => {
    const error = json({ error_code: 'BAD_REQUEST', message: 'Invalid input' });
    expect(extractRows(bodies(request, error, { code: 400 }), OPTIONS)).toEqual({ rows: [{ a: 1 }, { a: 2 }], unparsed: [] });
    expect(extractRows(bodies(Buffer.from('x'), error, { code: 500 }), OPTIONS)).toEqual({ rows: [{}], unparsed: ['request'] });
  });
});

describe('extractRows: compressed bodies', () => {
  const request = json({ inputs: [{ a: 1 }] });
  const response = json({ predictions: [1] });

  test.each([
    ['gzip', gzipSync],
    ['x-gzip', gzipSync],
    ['deflate', deflateSync],
    ['deflate', deflateRawSync],
    ['br', brotliCompressSync],
  ])('decompresses %s', (encoding, compress) => {
    const extraction = extractRows({ requestBody: compress(request), responseBody: compress(response), code: 200,
      requestContentEncoding: encoding, responseContentEncoding: encoding.toUpperCase() }, OPTIONS);
    expect(extraction).toEqual({ rows: [{ a: 1, prediction: 1 }], unparsed: [] });
  });

  test('an unknown coding or a body that expands past the limit is unparsed', () => {
    expect(extractRows({ requestBody: request, responseBody: response, code: 200, requestContentEncoding: 'zstd' }, OPTIONS).unparsed).toEqual(['request']);
    const bomb = gzipSync(Buffer.alloc(4 * 1024 * 1024, 0x20));
    expect(extractRows({ requestBody: bomb, responseBody: response, code: 200, requestContentEncoding: 'gzip' }, OPTIONS).unparsed).toEqual(['request']);
  });
});

describe('extractRows: the shadow challenger\'s answer', () => {
  const request = { inputs: [{ a: 1 }, { a: 2 }] };

  test('joins its predictions as challenger_prediction, next to the champion\'s', () => {
    // GIVEN a mirrored two-row request both models answered
    const extraction = extractRows(bodies(request, { predictions: [0, 1] }, { challenger: { code: 200, body: json({ predictions: [0, 0] }) } }), OPTIONS);
    // THEN
    expect(extraction).toEqual({ rows: [{ a: 1, prediction: 0, challenger_prediction: 0 }, { a: 2, prediction: 1, challenger_prediction: 0 }], unparsed: [] });
  });

  test.each([
    ['lists', [[0.1, 0.9], [0.8, 0.2]], { challenger_prediction_0: 0.1, challenger_prediction_1: 0.9 }],
    ['objects', [{ label: 'fraud', score: 0.9 }, { label: 'ok', score: 0.2 }], { challenger_prediction_label: 'fraud', challenger_prediction_score: 0.9 }],
    ['columns', { label: ['fraud', 'ok'], score: [0.9, 0.2] }, { challenger_prediction_label: 'fraud', challenger_prediction_score: 0.9 }],
  ])('names several outputs of %s challenger_prediction_<i|key>, as the champion\'s', (_name, predictions, first) => {
    const extraction = extractRows(bodies(request, { predictions: [0, 1] }, { challenger: { code: 200, body: json({ predictions }) } }), OPTIONS);
    expect(extraction.rows[0]).toEqual({ a: 1, prediction: 0, ...first });
  });

  test('reads its answer at the response path and decompresses it', () => {
    const extraction = extractRows(bodies({ data: { rows: [[1]] } }, { result: { scores: [0.5] } }, {
      challenger: { code: 200, body: gzipSync(json({ result: { scores: [0.25] } })), contentEncoding: 'gzip' },
    }), { ...OPTIONS, requestPath: 'data.rows', responsePath: 'result.scores' });
    expect(extraction.rows).toEqual([{ 0: 1, prediction: 0.5, challenger_prediction: 0.25 }]);
  });

  test('joins it also when the champion failed, or only its predictions were read', () => {
    expect(extractRows(bodies(request, { error: 'x' }, { code: 500, challenger: { code: 200, body: json({ predictions: [1, 1] }) } }), OPTIONS).rows)
      .toEqual([{ a: 1, challenger_prediction: 1 }, { a: 2, challenger_prediction: 1 }]);
    expect(extractRows(bodies(Buffer.from('x'), { predictions: [0] }, { challenger: { code: 200, body: json({ predictions: [1] }) } }), OPTIONS))
      .toEqual({ rows: [{ prediction: 0, challenger_prediction: 1 }], unparsed: ['request'] });
  });

  test.each([
    ['an error status', { code: 500, body: json({ predictions: [1, 1] }) }],
    ['no answer', { code: 0, body: undefined }],
    ['an unreadable body', { code: 200, body: Buffer.from('<html>') }],
    ['another row count', { code: 200, body: json({ predictions: [1] }) }],
  ])('leaves its columns out on %s, nothing unparsed', (_name, challenger) => {
    expect(extractRows(bodies(request, { predictions: [0, 1] }, { challenger }), OPTIONS))
      .toEqual({ rows: [{ a: 1, prediction: 0 }, { a: 2, prediction: 1 }], unparsed: [] });
  });
});

describe('readPredictionsOf', () => {
  test('reads one response body under the column it is given', () => {
    expect(readPredictionsOf(json({ predictions: [1, 0] }), OPTIONS)).toEqual([{ prediction: 1 }, { prediction: 0 }]);
    expect(readPredictionsOf(json([[1, 2]]), { ...OPTIONS, column: 'challenger_prediction' })).toEqual([{ challenger_prediction_0: 1, challenger_prediction_1: 2 }]);
    expect(readPredictionsOf(deflateSync(json({ out: [3] })), { ...OPTIONS, responsePath: 'out', contentEncoding: 'deflate' })).toEqual([{ prediction: 3 }]);
  });

  test('is undefined for an absent, unreadable or unknown body', () => {
    expect(readPredictionsOf(undefined, OPTIONS)).toBeUndefined();
    expect(readPredictionsOf(Buffer.from('{'), OPTIONS)).toBeUndefined();
    expect(readPredictionsOf(json({ outputs: [1] }), OPTIONS)).toBeUndefined();
    expect(readPredictionsOf(json({ predictions: [1] }), { ...OPTIONS, contentEncoding: 'zstd' })).toBeUndefined();
  });
});

describe('recordLines', () => {
  const meta = { timestamp: '2024-05-31T12:34:56.789Z', model: 'fraud-detector', version: '3', code: 200, latencySeconds: 0.01234567891, requestId: 'r-1' };

  test('writes the meta columns first, then features and predictions, one JSON object per row', () => {
    // GIVEN a two-row request
    const extraction = extractRows(bodies({ dataframe_split: { columns: ['amount', 'country'], data: [[12.5, 'DE'], [3, 'FR']] } }, { predictions: [0, 1] }), OPTIONS);
    // WHEN
    const lines = recordLines(extraction, meta);
    // THEN both rows share the request id; latency is in seconds to the microsecond
    expect(lines).toEqual([
      '{"_timestamp":"2024-05-31T12:34:56.789Z","_model":"fraud-detector","_version":"3","_request_id":"r-1","_code":200,"_latency_seconds":0.012346,"amount":12.5,"country":"DE","prediction":0}',
      '{"_timestamp":"2024-05-31T12:34:56.789Z","_model":"fraud-detector","_version":"3","_request_id":"r-1","_code":200,"_latency_seconds":0.012346,"amount":3,"country":"FR","prediction":1}',
    ]);
  });

  test('marks an unreadable part, "request" winning when both are', () => {
    const both = recordLines({ rows: [{}], unparsed: ['request', 'response'] }, meta).map((l) => JSON.parse(l));
    expect(both).toEqual([expect.objectContaining({ _unparsed: 'request' })]);
    expect(Object.keys(both[0])).not.toContain('prediction');
    const response = recordLines({ rows: [{ a: 1 }], unparsed: ['response'] }, meta).map((l) => JSON.parse(l));
    expect(response).toEqual([expect.objectContaining({ _unparsed: 'response', a: 1 })]);
  });

  test('a feature named like a meta column cannot overwrite it', () => {
    const [line] = recordLines({ rows: [{ _code: 'client value', _model: 'x', amount: 1 }], unparsed: [] }, meta);
    expect(JSON.parse(line)).toEqual(expect.objectContaining({ _code: 200, _model: 'fraud-detector', amount: 1 }));
  });

  test('writes the challenger\'s code after the latency when the request was mirrored, and not otherwise', () => {
    // GIVEN a mirrored request the challenger did not answer, and one it answered
    const [failed] = recordLines({ rows: [{ a: 1, prediction: 0 }], unparsed: [] }, { ...meta, challengerCode: 0 });
    const [answered] = recordLines({ rows: [{ a: 1, prediction: 0, challenger_prediction: 1, _challenger_code: 'feature' }], unparsed: ['response'] }, { ...meta, challengerCode: 200 });
    // THEN
    expect(failed).toBe('{"_timestamp":"2024-05-31T12:34:56.789Z","_model":"fraud-detector","_version":"3","_request_id":"r-1","_code":200,"_latency_seconds":0.012346,"_challenger_code":0,"a":1,"prediction":0}');
    expect(JSON.parse(answered)).toEqual(expect.objectContaining({ _challenger_code: 200, _unparsed: 'response', challenger_prediction: 1 }));
    expect(recordLines({ rows: [{ a: 1 }], unparsed: [] }, meta)[0]).not.toContain('_challenger_code');
  });
});

describe('extractRows and recordLines never throw', () => {
  const meta = { timestamp: '2024-05-31T00:00:00.000Z', model: 'm', version: '1', code: 200, latencySeconds: 0, requestId: 'r' };

  test('on any JSON in either body, every line being one JSON object with the meta columns', () => {
    fc.assert(fc.property(fc.jsonValue(), fc.jsonValue(), fc.integer({ min: 100, max: 599 }), (request, response, code) => {
      const lines = recordLines(extractRows(bodies(request, response, { code }), OPTIONS), { ...meta, code });
      for (const line of lines) expect(JSON.parse(line)).toEqual(expect.objectContaining({ _model: 'm', _code: code }));
    }));
  });

  test('on any JSON in a challenger\'s answer, its columns never overwriting the meta columns', () => {
    fc.assert(fc.property(fc.jsonValue(), fc.jsonValue(), fc.jsonValue(), fc.constantFrom(0, 200, 500), (request, response, answer, challengerCode) => {
      const extraction = extractRows(bodies(request, response, { challenger: { code: challengerCode, body: json(answer) } }), OPTIONS);
      for (const line of recordLines(extraction, { ...meta, challengerCode })) {
        expect(JSON.parse(line)).toEqual(expect.objectContaining({ _model: 'm', _code: 200, _challenger_code: challengerCode }));
      }
    }));
  });

  test('on any bytes, in any of the formats and encodings', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 200 }),
      fc.constantFrom(undefined, 'text/csv', 'application/json'), fc.constantFrom(undefined, 'gzip', 'deflate', 'br'), (request, response, type, encoding) => {
        const extraction = extractRows({ requestBody: Buffer.from(request), responseBody: Buffer.from(response), code: 200,
          requestContentType: type, requestContentEncoding: encoding, responseContentEncoding: encoding }, OPTIONS);
        recordLines(extraction, meta).forEach((line) => JSON.parse(line));
      }));
  });

  test('with paths that lead anywhere', () => {
    fc.assert(fc.property(fc.jsonValue(), fc.array(fc.constantFrom('a', '0', 'b', '1', '__proto__', 'constructor'), { minLength: 1, maxLength: 4 }), (body, segments) => {
      const path = segments.join('.');
      const extraction = extractRows(bodies(body, body), { ...OPTIONS, requestPath: path, responsePath: path });
      recordLines(extraction, meta).forEach((line) => JSON.parse(line));
    }));
  });
});
