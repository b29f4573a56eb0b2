// The inference log (issue 13): what the metrics proxy calls. The proxy parses the config with
// its own at start, resolves the served version, creates the log when the config is there,
// samples and captures requests, appends render() to /metrics and closes the log after its drain.
export { type InferenceLogConfig, DEFAULTS as INFERENCE_LOG_DEFAULTS, parseInferenceLogConfig } from './config';
export { type Capture, type InferenceLog, type InferenceLogOptions, createInferenceLog } from './inference-log';
export { renderModelInfo } from './metrics';
export { BodyCapture } from './sampler';
export { type ResolvedVersion, type ResolveVersionOptions, resolveModelVersion } from './version';
export type { LogEvent as InferenceLogEvent } from './writer';
