/** Keeps test output readable: the SDK's worker logs at INFO by default. */
import { DefaultLogger, Runtime } from '@temporalio/worker';

try {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
} catch {
  // Already installed by an earlier test file in this jest worker process.
}
