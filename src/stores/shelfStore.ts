import { action, computed, makeObservable, observable } from 'mobx-miniprogram'
import { type ActionState, trackAction } from './actionState'
import type { LiveClient } from '../connection/client'
import type { AckFrame, Goods, ShelfEvent, ShelfItem } from '../protocol/frames'

/** Where a command about one goods stands: bind it to show a spinner, a tick or the reason. */
export type GoodsActionState = ActionState

/** Goods on the shelf, in the order they went on. Prices are integer cents. */
export class ShelfStore {
  goods: ShelfItem[] = []
  /** The last purchase of each goods, by `goods_id`. */
  buys: Record<string, GoodsActionState> = {}
  /** Anchor: the last put-on or take-off of each goods, by `goods_id`. */
  changes: Record<string, GoodsActionState> = {}

  constructor(
    private readonly client: LiveClient,
    readonly roomId: string,
  ) {
    makeObservable<ShelfStore, 'replace' | 'apply'>(this, {
      goods: observable.ref,
      buys: observable.ref,
      changes: observable.ref,
      current: computed,
      replace: action,
      apply: action,
    })
  }

  /** The latest goods to go on the shelf (the one the anchor is presenting), or null. */
  get current(): ShelfItem | null {
    return this.goods.length > 0 ? this.goods[this.goods.length - 1] : null
  }

  byId(goodsId: string): ShelfItem | undefined {
    return this.goods.find((g) => g.goods_id === goodsId)
  }

  /** Buys goods that are on the shelf; resolves with the server's ack. `buys[goodsId]` follows it. */
  buy(goodsId: string): Promise<AckFrame> {
    return this.track('buys', goodsId, this.client.send({ msg_type: 'buy', room_id: this.roomId, goods_id: goodsId }))
  }

  /** Records a command's course under `field[goodsId]`; returns the same promise. */
  private track(field: 'buys' | 'changes', goodsId: string, sent: Promise<AckFrame>): Promise<AckFrame> {
    return trackAction((state) => {
      this[field] = { ...this[field], [goodsId]: state }
    }, sent)
  }

  /** Anchor only: puts goods on the shelf (or updates them). */
  putOn(goods: Goods): Promise<AckFrame> {
    if (!Number.isInteger(goods.goods_price) || goods.goods_price < 0) {
      throw new TypeError('putOn: goods_price must be a whole number of cents')
    }
    return this.track(
      'changes',
      goods.goods_id,
      this.client.send({
        msg_type: 'on_off_shelf',
        room_id: this.roomId,
        goods_id: goods.goods_id,
        goods_name: goods.goods_name,
        goods_price: goods.goods_price,
        default_image: goods.default_image,
        status: 'on',
      }),
    )
  }

  /** Anchor only: takes goods off the shelf. */
  takeOff(goodsId: string): Promise<AckFrame> {
    const goods = this.byId(goodsId)
    return this.track(
      'changes',
      goodsId,
      this.client.send({
        msg_type: 'on_off_shelf',
        room_id: this.roomId,
        goods_id: goodsId,
        goods_name: goods?.goods_name ?? '',
        goods_price: goods?.goods_price ?? 0,
        default_image: goods?.default_image ?? 'https://invalid.invalid/',
        status: 'off',
      }),
    )
  }

  /** @internal A snapshot: the shelf as the server has it. */
  replace(shelf: ShelfItem[]): void {
    this.goods = shelf.filter((g) => g.status === 'on').map((g) => ({ ...g }))
  }

  /** @internal One shelf change. */
  apply(event: ShelfEvent): void {
    const item: ShelfItem = {
      goods_id: event.goods_id,
      goods_name: event.goods_name,
      goods_price: event.goods_price,
      default_image: event.default_image,
      status: event.status,
    }
    const index = this.goods.findIndex((g) => g.goods_id === item.goods_id)
    if (item.status === 'off') {
      if (index !== -1) this.goods = this.goods.filter((_, i) => i !== index)
    } else if (index !== -1) {
      this.goods = this.goods.map((g, i) => (i === index ? item : g))
    } else {
      this.goods = [...this.goods, item]
    }
  }
}
