/** The deployment version a worker declares, from the environment (README "Changing workflow code"). */
import { loadConfig } from '../../src/app/config';
import { packageVersion, workerBuildId, workerDeploymentOptions } from '../../src/app/worker-versioning';

const noGit = () => undefined;

test('the build id is WORKER_BUILD_ID, else the package version and the git sha', () => {
  const version = packageVersion();
  expect(version).toMatch(/^\d+\.\d+\.\d+/);
  expect(workerBuildId(loadConfig({ WORKER_BUILD_ID: 'release-7' }), noGit)).toBe('release-7');
  expect(workerBuildId(loadConfig({ SPICE_GIT_SHA: '1a2b3c4' }), noGit)).toBe(`${version}-1a2b3c4`);
  expect(workerBuildId(loadConfig({}), () => 'abcdef0')).toBe(`${version}-abcdef0`);
  // An image built without --build-arg GIT_SHA says "unknown": the checkout's sha or the version alone.
  expect(workerBuildId(loadConfig({ SPICE_GIT_SHA: 'unknown' }), noGit)).toBe(version);
});

test('a worker declares its version, pinning its workflows, only with WORKER_VERSIONING=true', () => {
  expect(workerDeploymentOptions(loadConfig({ WORKER_BUILD_ID: 'b1' }), noGit)).toBeUndefined();
  expect(workerDeploymentOptions(loadConfig({ WORKER_VERSIONING: 'true', WORKER_DEPLOYMENT_NAME: 'oms', WORKER_BUILD_ID: 'b2' }), noGit)).toEqual({
    version: { deploymentName: 'oms', buildId: 'b2' },
    useWorkerVersioning: true,
    defaultVersioningBehavior: 'PINNED',
  });
});
