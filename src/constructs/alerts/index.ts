// alerts/: PrometheusAlerts (alerting and recording rules) and the Grafana dashboard.
export * from './grafana-dashboard';
export * from './prometheus-alerts';
