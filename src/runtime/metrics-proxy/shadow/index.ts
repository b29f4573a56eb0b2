// The shadow challenger (issue 13): what the champion's metrics proxy calls. The proxy parses
// the config with its own at start, creates the shadow when the config is there, samples with
// the inference log's draw, mirrors once the champion has answered, joins the answer to the
// inference log's record, appends render() to /metrics and closes the shadow after its drain,
// before the inference log. parseVariant is for the challenger's own proxy.
export { type ShadowConfig, DEFAULTS as SHADOW_DEFAULTS, parseShadowConfig, parseVariant } from './config';
export { type ChallengerAnswer, type MirrorInput, type SendToChallenger, type Shadow, type ShadowOptions, createShadow } from './mirror';
