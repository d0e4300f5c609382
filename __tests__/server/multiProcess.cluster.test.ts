import { clusterForThisFile } from '../helpers/redisCluster'
import { multiProcessSuite } from './multiProcessSuite'

const redis = clusterForThisFile()

// `live-store-server --redis-cluster host:port,...` given three of the six nodes.
multiProcessSuite('a Redis Cluster', () => ['--redis-cluster', redis.seeds.slice(0, 3).join(',')])
