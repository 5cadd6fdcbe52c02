/**
 * Deployment settings of the mini-program. A school changes these three values (and the
 * appid in project.config.json) before uploading its own copy.
 */
module.exports = {
  /** The longmarch server, without a trailing slash; its host must be a request 合法域名. */
  apiBase: 'https://longmarch.example.edu.cn',
  /**
   * The campaign this mini-program serves. Leave empty to use the participant's first
   * enrollment, or the only active campaign when joining.
   */
  campaign: 'long-march-demo',
  /** Retries of a request refused with 429/503 or lost to the network, and the first wait. */
  retry: { attempts: 3, baseMs: 1000, maxMs: 8000 },
}
