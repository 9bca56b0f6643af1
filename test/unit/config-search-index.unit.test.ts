/** SEARCH_INDEX_MAX_CHARS is bounded so that no text can make a tsvector exceed PostgreSQL's 1 MB. */
import { ConfigError, loadConfig } from '../../src/app/config';

test('SEARCH_INDEX_MAX_CHARS: 100,000 by default, 1,000..150,000 accepted, anything else refused by name', () => {
  expect(loadConfig({}).SEARCH_INDEX_MAX_CHARS).toBe(100_000);
  expect(loadConfig({ SEARCH_INDEX_MAX_CHARS: '150000' }).SEARCH_INDEX_MAX_CHARS).toBe(150_000);
  for (const bad of ['150001', '999', '1e9', 'lots', '-5']) {
    expect(() => loadConfig({ SEARCH_INDEX_MAX_CHARS: bad })).toThrow(ConfigError);
    expect(() => loadConfig({ SEARCH_INDEX_MAX_CHARS: bad })).toThrow(/SEARCH_INDEX_MAX_CHARS/);
  }
});
