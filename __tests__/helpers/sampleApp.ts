import * as path from 'path'

/** The sample mini-program's folder. */
export const SAMPLE_ROOT = path.join(__dirname, '..', '..', 'miniprogram')

/** The library's WXS helpers, as the package ships them (miniprogram_dist/fmt.wxs). */
export const FMT_WXS = path.join(__dirname, '..', '..', 'src', 'wxs', 'fmt.wxs')

/**
 * Puts the library's WXS helpers where Build npm puts them (miniprogram_npm/miniprogram-live-store/),
 * so the sample's WXML, which imports them from there as a user's does, compiles in a page test.
 */
export function laySampleWxs(): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const build = require('../../scripts/wxs.js') as { layWxs(npmDir: string): void }
  build.layWxs(path.join(SAMPLE_ROOT, 'miniprogram_npm'))
}
