/**
 * `ops deploy set-current|describe`: Temporal Worker Versioning from the operator's shell (README
 * "Changing workflow code"). The same calls as `temporal worker deployment set-current-version` and
 * `... describe`, without installing the temporal CLI next to the app.
 */
import type { Command } from 'commander';
import type { OpsContext } from '../context';
import { describeDeployment, setCurrentVersion } from '../../worker-versioning';

export function register(program: Command, ctx: OpsContext): void {
  const deploy = program.command('deploy').description('worker versions: which build takes new commands (WORKER_VERSIONING=true)');
  const deploymentOf = (o: { deployment?: string }) => o.deployment ?? ctx.config.WORKER_DEPLOYMENT_NAME;
  const deploymentOption = '--deployment <name>';
  const deploymentHelp = 'the worker deployment (default WORKER_DEPLOYMENT_NAME)';

  deploy
    .command('set-current <build-id>')
    .description('move new commands to this build; commands in flight stay pinned to the build that started them. The build must have polled (its workers started)')
    .option(deploymentOption, deploymentHelp)
    .action(async (buildId: string, o: { deployment?: string }) => {
      const deployment = deploymentOf(o);
      const { previous } = await setCurrentVersion(await ctx.client(), deployment, buildId, ctx.actor());
      ctx.print(`${deployment}: new commands go to ${buildId} (before: ${previous ?? 'unversioned workers'})`, { deployment, current: buildId, previous });
    });

  deploy
    .command('describe')
    .description("the deployment's builds (status, drainage) and which one takes new commands")
    .option(deploymentOption, deploymentHelp)
    .action(async (o: { deployment?: string }) => {
      const view = await describeDeployment(await ctx.client(), deploymentOf(o));
      const lines = [
        `deployment: ${view.deployment}`,
        `current: ${view.current ?? 'none (new commands go to unversioned workers)'}`,
        ...(view.ramping ? [`ramping: ${view.ramping} (${view.ramping_percentage} %)`] : []),
        'builds:',
        ...view.versions.map((v) => `  ${v.build_id}  ${v.status.toLowerCase()}  drainage ${v.drainage.toLowerCase()}  created ${v.created_at ?? '?'}`),
      ];
      ctx.print(lines.join('\n'), view);
    });
}
