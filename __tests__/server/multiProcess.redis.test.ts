import { redisForThisFile } from '../helpers/redisServer'
import { multiProcessSuite } from './multiProcessSuite'

const redis = redisForThisFile()

multiProcessSuite('one Redis', () => ['--redis', redis.url])
