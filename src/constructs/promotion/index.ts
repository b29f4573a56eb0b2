// promotion/: ModelPromotion, the relay from MLflow's alias webhooks to CI or a (canary) rollout.
export * from './interfaces';
export * from './model-promotion';
export * from './promotion-action';
