import { clusterForThisFile } from '../helpers/redisCluster'
import { redisEngineSuite } from './redisEngineSuite'

const redis = clusterForThisFile()

redisEngineSuite('Redis Cluster', () => ({ cluster: redis.seeds }))
