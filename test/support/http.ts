/** The e2e tests' one way to call the API under test: a JSON request, its status, headers and parsed body. */
export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  body: any; // whatever the endpoint answers
}

import { eventually } from './env';

/** API keys by base URL: a pipeline registers its writer key, so sendJson authenticates by itself. */
const keysByBaseUrl = new Map<string, string>();

export function useApiKey(baseUrl: string, key: string | undefined): void {
  if (key === undefined) keysByBaseUrl.delete(baseUrl);
  else keysByBaseUrl.set(baseUrl, key);
}

export const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });

/** The registered key's header for `baseUrl`, unless `headers` already carry one (any case). */
export function withAuth(baseUrl: string, headers: Record<string, string> = {}): Record<string, string> {
  const key = keysByBaseUrl.get(baseUrl);
  if (key === undefined || Object.keys(headers).some((h) => h.toLowerCase() === 'authorization')) return headers;
  return { ...bearer(key), ...headers };
}

export async function sendJson(baseUrl: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...withAuth(baseUrl, headers) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, body: text ? JSON.parse(text) : undefined };
}

/** A database with one class, both created and waited for: where most e2e files start. */
export async function seedDatabase(baseUrl: string, db: string, cls: Record<string, unknown>): Promise<void> {
  const wait = { prefer: 'wait=30' };
  expect((await sendJson(baseUrl, 'POST', '/databases', { name: db }, wait)).status).toBe(201);
  expect((await sendJson(baseUrl, 'POST', `/databases/${db}/classes`, cls, wait)).status).toBe(201);
}

/** A command's status once it is final (COMPLETED or FAILED), polled through GET /commands/{id}. */
export function commandFinished(baseUrl: string, commandId: string, timeoutMs = 120_000, headers: Record<string, string> = {}): Promise<any> {
  return eventually(
    () => sendJson(baseUrl, 'GET', `/commands/${commandId}`, undefined, headers).then((r) => r.body),
    (s) => s?.status === 'COMPLETED' || s?.status === 'FAILED',
    timeoutMs,
    200,
  );
}
