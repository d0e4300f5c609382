import type { Config } from 'jest'
import * as path from 'path'

// The last step of `npm run check:toolchain`: the sample app as the official tools built it
// (LIVE_STORE_APP_DIR). The page and app scripts resolve the library and its peers to that app's
// miniprogram_npm/, as WeChat does; only the server and the Node platform come from this repository.
const app = process.env.LIVE_STORE_APP_DIR ?? path.join(__dirname, 'miniprogram')
const npm = (name: string): string => path.join(app, 'miniprogram_npm', name, 'index.js')

const config: Config = {
  testEnvironment: 'node',
  roots: ['<rootDir>/__tests__/miniprogram'],
  testMatch: ['**/*.check.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.pages.json' }] },
  moduleNameMapper: {
    '^miniprogram-live-store$': npm('miniprogram-live-store'),
    '^mobx-miniprogram$': npm('mobx-miniprogram'),
    '^mobx-miniprogram-bindings$': npm('mobx-miniprogram-bindings'),
    '^miniprogram-live-store/(protocol|platform)$': '<rootDir>/src/$1/index.ts',
  },
  testTimeout: 30000,
}

export default config
