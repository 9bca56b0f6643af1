/** The e2e tests' one way to call the API under test: a JSON request, its status, headers and parsed body. */
export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  body: any; // whatever the endpoint answers
}

export async function sendJson(baseUrl: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
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
