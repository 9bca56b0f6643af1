/**
 * The chaos run's short mode (issue 17, item 3) inside the suite: 36 s of steady load on two
 * worker processes, three SIGKILLed and replaced, and a Kafka of the run's own stopped hard and
 * started again. Nothing accepted is lost, no stream has a gap, Kafka keeps each stream's order,
 * the read models equal a rebuild and nothing is left running. `npm run chaos` is the full run.
 */
import { PLANS, chaosTable, runChaos } from '../../bench/chaos/run-chaos';

test('short chaos: worker kills and a Kafka stop under load lose nothing', async () => {
  const report = await runChaos(PLANS.short, () => undefined);
  console.log(chaosTable(report));
  expect(report.commands.accepted).toBeGreaterThan(50);
  expect(report.commands.unaccepted).toBe(0);
  expect(Object.keys(report.commands.failed).filter((k) => !k.startsWith('business:'))).toEqual([]);
  expect(report.kills).toBe(PLANS.short.kills);
  expect(report.outages.map((o) => o.service)).toEqual(['kafka']);
  expect({ lost: report.lost, gaps: report.gaps, order: report.order_violations, running: report.left_running, readModelsEqual: report.read_models_equal }).toEqual({
    lost: 0,
    gaps: 0,
    order: 0,
    running: 0,
    readModelsEqual: true,
  });
}, 900_000);
