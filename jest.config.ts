import type { Config } from 'jest'

const config: Config = {
  testEnvironment: 'node',
  roots: ['<rootDir>/__tests__'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  moduleNameMapper: {
    // The sample mini-program imports the library by its package name, as users do.
    '^miniprogram-live-store$': '<rootDir>/src/index.ts',
    // The server package imports the client's sub-entries by name; tests run them from source.
    '^miniprogram-live-store/(protocol|platform|testing)$': '<rootDir>/src/$1/index.ts',
    // Development build of MobX: keeps its warnings on in tests (STACK.md #7).
    '^mobx-miniprogram$': '<rootDir>/node_modules/mobx-miniprogram/dist/mobx.cjs.development.js',
  },
  testTimeout: 30000,
}

export default config
