/** One dependency the API's readiness check asks. */
export interface HealthCheck {
  name: 'temporal' | 's3' | 'postgres' | 'kafka' | string;
  check(): Promise<void>;
}
