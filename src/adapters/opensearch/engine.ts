/** The OpenSearch side of spice-oms over one client and one index prefix: projection, queries, index generations. */
import { Client } from '@opensearch-project/opensearch';
import { OpenSearchProjector } from './projector';
import { OpenSearchQueries } from './search';
import { SearchGenerations } from './generations';

export function createSearchClient(url: string): Client {
  return new Client({ node: url, requestTimeout: 30_000, maxRetries: 2 });
}

export class SearchEngine {
  readonly projector: OpenSearchProjector;
  readonly queries: OpenSearchQueries;
  readonly generations: SearchGenerations;

  constructor(
    readonly client: Client,
    readonly prefix: string,
  ) {
    this.projector = new OpenSearchProjector(client, prefix);
    this.queries = new OpenSearchQueries(client, prefix);
    this.generations = new SearchGenerations(client, prefix);
  }

  /** A projector for a rebuild: it writes into these new generations only. */
  rebuildProjector(targets: readonly string[]): OpenSearchProjector {
    return new OpenSearchProjector(this.client, this.prefix, { onlyIndices: new Set(targets) });
  }

  /** Answers when the cluster does (the API's readiness check). */
  async ping(): Promise<void> {
    await this.client.cluster.health({ timeout: '2s' });
  }

  /** Drops every index under the prefix (test runs end with it). */
  dropAll(): Promise<void> {
    return this.generations.indices.dropAll();
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
