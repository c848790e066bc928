import { loadDefinition, OrchestratorConnection } from "@debian-bootc/deb-bootc-compose";

export type EmbeddedHubClient = Awaited<ReturnType<OrchestratorConnection["open"]>>["client"];

/**
 * The embedded hub a compose left in `dataDir` (--orchestrator-data), opened only to look: its builder
 * finds nothing queued, and the hub is closed again when `look` ends.
 */
export async function lookAtEmbeddedHub<T>(
  dataDir: string,
  definitionPath: string,
  look: (client: EmbeddedHubClient) => Promise<T>,
): Promise<T> {
  const connection = new OrchestratorConnection({ dataDir, upUrl: "none", env: {} });
  try {
    const loaded = await loadDefinition(definitionPath);
    return await look((await connection.open(loaded.definition, loaded.baseDir)).client);
  } finally {
    await connection.close();
  }
}
