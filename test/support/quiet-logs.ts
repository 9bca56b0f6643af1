/** Keeps test output readable: request logs and the SDK's worker logs are at INFO by default. */
import { DefaultLogger, Runtime } from '@temporalio/worker';

process.env.LOG_LEVEL ??= 'error';
// The AWS SDK's notice about Node 20 support, once per process, says nothing about the tests.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

try {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
} catch {
  // Already installed by an earlier test file in this jest worker process.
}
