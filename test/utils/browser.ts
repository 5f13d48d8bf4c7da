/**
 * The headless browser of the dashboard tests: Debian's `chromium` (or `CHROMIUM_PATH`), driven
 * by playwright-core, with a page that may reach one host only.
 */
import { existsSync, mkdirSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { type Browser, chromium, type Page } from "playwright-core"

const browserPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium"

/** Whether the browser tests run: a browser is there, or CI requires one (a missing one then fails). */
export const browserTestsRun = existsSync(browserPath) || process.env.CI !== undefined

/** Where the tests keep their screenshots (`test-artifacts/`, created on demand). */
export const artifactPath = (file: string): string => {
  const dir = fileURLToPath(new URL("../../test-artifacts/", import.meta.url))
  mkdirSync(dir, { recursive: true })
  return `${dir}${file}`
}

/** A browser, and a page of it that may reach `host` only: other requests are refused and recorded in `foreign`. */
export const openPage = async (host: string): Promise<{
  readonly browser: Browser
  readonly page: Page
  readonly foreign: ReadonlyArray<string>
}> => {
  // A fresh profile (Playwright gives each launch an empty temporary one) and nothing of
  // Chromium's own that would reach the network.
  const browser = await chromium.launch({
    executablePath: browserPath,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync"
    ]
  })
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  const foreign: Array<string> = []
  // The page must need nothing but `host`.
  await page.route((url) => url.host !== host, (route) => route.abort())
  page.on("request", (request) => {
    if (new URL(request.url()).host !== host) foreign.push(request.url())
  })
  return { browser, page, foreign }
}
