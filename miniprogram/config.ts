import type { Goods } from 'miniprogram-live-store'

/**
 * Where the sample connects. Start the server with `npm start -- --serve` in the
 * repository and paste the URL and a token it prints (viewer or anchor).
 * In WeChat DevTools, tick "Do not verify valid domain names" for ws://127.0.0.1.
 */
export const config = {
  url: 'ws://127.0.0.1:8080/ws',
  token: '',
  roomId: 'demo',
}

/** The anchor console's goods catalogue (prices in cents). */
export const catalogue: Goods[] = [
  { goods_id: 'tea-01', goods_name: 'Longjing green tea, 250 g', goods_price: 12800, default_image: 'https://img.example.com/tea.png' },
  { goods_id: 'cup-02', goods_name: 'Celadon tea cup', goods_price: 5900, default_image: 'https://img.example.com/cup.png' },
  { goods_id: 'pot-03', goods_name: 'Clay teapot', goods_price: 26800, default_image: 'https://img.example.com/pot.png' },
]
