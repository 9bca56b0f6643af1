/** Where the workflow path's time goes, read from sampled workflow histories (task queueing, activities, API hops). */
import type { Client } from '@temporalio/client';
import type { Rec } from './records';
import { median } from './stats';

const ts = (t: any) => Number(t?.seconds ?? 0) * 1000 + Number(t?.nanos ?? 0) / 1e6;

export async function profileWorkflows(client: Client, ids: string[], submitTimes: Map<string, Rec>): Promise<Record<string, Record<string, number>>> {
  const per = new Map<string, Record<string, number[]>>();
  for (const entry of ids) {
    const [scenario, commandId] = entry.split('\u0000');
    let h;
    try {
      h = await client.workflow.getHandle(`command-${commandId}`).fetchHistory();
    } catch {
      continue;
    }
    const ev = h.events ?? [];
    const start = ev.find((e) => e.workflowExecutionStartedEventAttributes);
    const close = ev.find((e) => e.workflowExecutionCompletedEventAttributes);
    if (!start || !close) continue;
    const m = per.get(scenario) ?? {};
    per.set(scenario, m);
    const add = (k: string, x: number) => (m[k] ??= []).push(x);
    const byId = new Map(ev.map((e) => [Number(e.eventId), e]));
    // workflow tasks: scheduled -> started (queue) and started -> completed (worker)
    let wftQueue = 0;
    let wftRun = 0;
    let wfts = 0;
    for (const e of ev) {
      const a = e.workflowTaskStartedEventAttributes;
      if (a) {
        const sched = byId.get(Number(a.scheduledEventId));
        wftQueue += ts(e.eventTime) - ts(sched?.eventTime);
        wfts++;
      }
      const c = e.workflowTaskCompletedEventAttributes;
      if (c) wftRun += ts(e.eventTime) - ts(byId.get(Number(c.startedEventId))?.eventTime);
    }
    add('workflow tasks', wfts);
    add('wft schedule->start ms (sum)', wftQueue);
    add('wft start->complete ms (sum)', wftRun);
    for (const e of ev) {
      const c = e.activityTaskCompletedEventAttributes;
      if (!c) continue;
      const sched = byId.get(Number(c.scheduledEventId));
      const started = byId.get(Number(c.startedEventId));
      const name = sched?.activityTaskScheduledEventAttributes?.activityType?.name ?? '?';
      add(`${name} schedule->start ms`, ts(started?.eventTime) - ts(sched?.eventTime));
      add(`${name} start->complete ms`, ts(e.eventTime) - ts(started?.eventTime));
      add(`${name} attempts`, Number(started?.activityTaskStartedEventAttributes?.attempt ?? 1));
    }
    add('workflow start->close ms', ts(close.eventTime) - ts(start.eventTime));
    const rec = submitTimes.get(commandId);
    if (rec?.tDone) {
      add('API submit->workflow started ms', ts(start.eventTime) - rec.tSubmit);
      add('workflow closed->API response ms', rec.tDone - ts(close.eventTime));
    }
  }
  const out: Record<string, Record<string, number>> = {};
  for (const [s, m] of per) out[s] = Object.fromEntries(Object.entries(m).map(([k, xs]) => [`${k} (p50)`, Math.round(median(xs) * 10) / 10]));
  return out;
}
