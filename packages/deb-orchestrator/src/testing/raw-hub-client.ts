import { HubClient, type SendInit } from "../client/hub-client.js";

/**
 * Raw HTTP to a hub for the tests of the HTTP layer itself (statuses, refusals, malformed requests): any
 * method and path, answers cast to what the test expects. The tools talk to a hub through HubClient's
 * typed operations only.
 */
export class RawHubClient extends HubClient {
  raw(method: string, path: string, init: SendInit = {}): Promise<Response> {
    return this.send(method, path, init);
  }

  async http<T>(method: string, path: string, body?: unknown, options: SendInit = {}): Promise<T> {
    const response = await this.send(method, path, {
      ...options,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }),
    });
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  get<T>(path: string): Promise<T> {
    return this.http<T>("GET", path);
  }

  post<T>(path: string, body: unknown = {}, options: SendInit = {}): Promise<T> {
    return this.http<T>("POST", path, body, options);
  }
}
