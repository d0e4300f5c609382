import { createServer } from '../../server/server'
import { clusterForThisFile } from '../helpers/redisCluster'
import { SECRET } from './conformanceSuite'
import { hardeningSuite } from './hardeningSuite'

const redis = clusterForThisFile()

// The same abuse as on one Redis, on a 3-master Redis Cluster.
let boots = 0
hardeningSuite('Redis Cluster', (options) => createServer({ port: 0, secret: SECRET, redis: { cluster: redis.seeds, prefix: `hard${++boots}` }, ...options }))
