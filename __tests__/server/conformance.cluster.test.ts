import { createServer } from '../../server/server'
import { clusterForThisFile } from '../helpers/redisCluster'
import { conformanceSuite, SECRET } from './conformanceSuite'

const redis = clusterForThisFile()

// The same suite as on one Redis, on a 3-master Redis Cluster: every server gets keys of its own.
let boots = 0
conformanceSuite('Redis Cluster', (options) => createServer({ port: 0, secret: SECRET, redis: { cluster: redis.seeds, prefix: `conf${++boots}` }, ...options }))
