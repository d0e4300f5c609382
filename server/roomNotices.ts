/**
 * The words of a room's notices (`msg_content` of join, leave, subscribe and buy events), in
 * one place: the in-memory room (room.ts), the Redis engine's event fragments and its script
 * (engine/redis/scripts.ts interpolates them) say the same thing.
 */
export const NOTICE_WORDS = { join: 'joined', leave: 'left', subscribe: 'followed', buy: 'bought' } as const

/** "Ann joined", "Bo left", "Cy followed". */
export const presenceNotice = (name: string, kind: 'join' | 'leave'): string => `${name} ${NOTICE_WORDS[kind]}`
export const followNotice = (name: string): string => `${name} ${NOTICE_WORDS.subscribe}`
/** "Di bought Hat". */
export const buyNotice = (name: string, goodsName: string): string => `${name} ${NOTICE_WORDS.buy} ${goodsName}`
