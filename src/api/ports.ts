/**
 * What the REST API needs from the rest of the system, as interfaces: the app is built over them
 * (createApp(ports)), the composition root passes the real implementations.
 */
import type { InputLimits } from '../contracts/input-limits';
import type { CommandGateway } from '../ports/command-gateway';
import type { EventHistory } from '../ports/event-history';
import type { HealthCheck } from '../ports/health';
import type { ReadModelQueries } from '../ports/read-models';
import type { AccessControl } from './auth';
import type { SearchQueries } from '../ports/search';
import type { AuditLogQueries } from '../ports/audit-log';
import type { StorageModeAdmin } from '../ports/storage-mode-admin';
import type { SubjectForgetting } from '../ports/personal-data';

export interface ApiPorts {
  commands: CommandGateway;
  readModels: ReadModelQueries;
  /** OpenSearch; without it (SEARCH_ENGINE=postgres) search answers from the read models' full-text index. */
  search?: SearchQueries;
  history: EventHistory;
  /** The audit log the reference consumer writes (README "Consuming events"). */
  audit: AuditLogQueries;
  health: HealthCheck[];
  /** Upper bound of ?wait=true / Prefer: wait=N. */
  maxWaitMs: number;
  /** Largest body in bytes: API_BODY_LIMIT as the config parsed and checked it. */
  bodyLimitBytes: number;
  limits: InputLimits;
  /** API keys, roles, databases and per-key limits (README "Access control"). */
  access: AccessControl;
  /** The operator's storage-mode and migration operations (/api/v1/admin); absent: no admin routes. */
  admin?: StorageModeAdmin;
  /** FORGET_SUBJECT (/api/v1/admin/forget-subject); absent: no such route. */
  subjects?: SubjectForgetting;
  /** Aborted when the process begins to stop: new requests are refused 503 SHUTTING_DOWN, waits answer at once. */
  stopping?: AbortSignal;
}
