# Careline rider pages: Traditional Chinese.
# Keep every key in all three files; a test checks they match.

brand = 騎手心理關愛
lang-label = 語言
home = 返回首頁
privacy-note = 你的回答會保密，只有負責跟進的心理諮詢師能看到，不會告訴平台或站點。

## The list of screenings

index-title = 花幾分鐘，關心一下自己
index-intro = 選一份小調查開始。不用填姓名，按實際情況選就好，沒有對錯。
index-minutes = 約 { $minutes } 分鐘
index-recommended = 推薦
index-empty = 現在還沒有可以填寫的調查，請稍後再來。

## The form

form-submit = 提交
form-conditional = 這一題是否需要回答，取決於前面的回答；如果不適用，你在這裡的選擇不會被記錄。
form-errors-title = 還有 { $count } 個地方需要看一下
form-error-link = 第 { $number } 題
form-outdated = 這份調查剛剛更新過，請返回首頁重新打開再填寫。
err-required = 請選一個答案
err-not-a-choice = 請從下面的選項中選一個
err-not-asked = 根據前面的回答，這一題不需要回答
err-duplicate = 這一題只能選一個答案

## The result

crisis-label = 需要幫助時，現在就可以撥打的電話
call = 撥打
result-title = 謝謝你認真回答
result-hotline-title = 想現在就找人聊聊？
result-resources-title = 可能對你有幫助
kind-self_help = 自助練習
kind-course = 課程
kind-booking = 預約諮詢
kind-hotline = 熱線

## The offer to be contacted

contact-title = 想讓心理諮詢師聯繫你嗎？
contact-intro = 如果你願意，留下電話號碼，心理諮詢師會打給你。完全自願，不留也可以。
contact-phone = 電話號碼
contact-name = 怎麼稱呼你（可以不填）
contact-consent = 我同意心理諮詢師用這個號碼聯繫我
contact-privacy = 號碼加密保存，只用於這次聯繫，{ $days } 天後自動刪除，不會告訴平台或站點。
contact-submit = 請聯繫我
contact-unavailable = 想和心理諮詢師聊聊，可以直接撥打上面的熱線。
err-consent = 請勾選同意，我們才會保存你的號碼
err-phone = 請填寫有效的電話號碼（5到20位數字）
err-name = 稱呼最多50個字

thanks-title = 謝謝，我們收到了
thanks-soon = 心理諮詢師會盡快打電話給你。
thanks-days = 心理諮詢師會在近幾天打電話給你。
thanks-already = 我們已經收到你的聯繫方式了，心理諮詢師會打電話給你。
thanks-meanwhile = 在等待的時候，如果感到撐不住，請馬上撥打上面的電話，或者告訴身邊的人。

## Problems

form-sensitive-prompt = 有 { $count } 個問題你沒有回答。你可以跳過這些問題，但它們能幫我們知道你現在是否安全、需不需要有人盡快聯繫你。願意的話可以再看一下；不想回答也沒關係，直接再點一次「提交」就好。
form-resend-expired = 這個頁面打開得有點久了，為了安全需要再確認一次。你的回答都還在，請檢查後再點一次「提交」。
form-resend-check = 我們沒能確認這份表格來自本網站，所以還沒有儲存。你的回答都還在，請檢查後再點一次「提交」。
result-resend-expired = 這個頁面打開得有點久了。你的結果在下面；如果剛才在填聯絡方式，內容都還在，請再點一次提交。
result-resend-check = 我們沒能確認剛才的操作來自本網站，所以什麼都沒有改。你的結果在下面，可以再試一次。
hotline-default-name = 全國心理援助熱線
error-403-title = 頁面已經過期
error-403-body = 為了保護你的資訊，這個頁面需要重新打開。剛才的內容沒有提交，請重新打開再填寫。
error-404-title = 沒有找到這個頁面
error-404-body = 連結可能已經失效。可以回到首頁重新選擇。
error-409-title = 這份表格已經提交過了
error-409-body = 同一份表格只能提交一次。如果想重新回答，請重新打開調查。
error-400-title = 表格沒有收到
error-400-body = 剛才提交的內容不完整，請重新打開再填寫。
error-500-title = 出了點問題
error-500-body = 我們暫時沒能處理你的回答，請稍後再試。如果你現在需要幫助，請撥打上面的電話。
error-503-title = 你的回答暫時沒能儲存
error-503-body = 服務暫時連不上資料庫，請過幾分鐘再提交一次。如果你現在需要幫助，請撥打上面的電話。
error-503-result-title = 暫時無法顯示你的結果
error-503-result-body = 服務暫時連不上資料庫。你的回答已經儲存，請過幾分鐘再試。如果你現在需要幫助，請撥打上面的電話。
error-503-contact-title = 你的聯絡方式暫時沒能儲存
error-503-contact-body = 服務暫時連不上資料庫，我們還沒有收到你的電話號碼，請過幾分鐘再提交一次。如果你現在需要幫助，請撥打上面的電話。
error-429-title = 你的回答暫時沒能儲存
error-429-body = 短時間內從這個網路或站點提交的篩查太多，你的回答沒有儲存。如果你現在需要幫助，請撥打上面的電話；你也可以稍後再提交一次。
error-reopen = 重新打開調查

# issue 10: the rider's own data
withdraw-link = 撤回同意、刪除我留下的聯絡方式
withdraw-title = 撤回同意，刪除聯絡方式
withdraw-body = 按下面的按鈕，我們會馬上刪除你留下的電話和稱呼，諮詢師也就不會再用它聯絡你。你的答題結果仍按規定保留，但不再和你的電話關聯。
withdraw-submit = 撤回同意並刪除
withdraw-nothing = 這次篩查沒有保存任何聯絡方式（可能從未留下，或已經刪除）。
withdraw-done-title = 已刪除
withdraw-done-body = 你的聯絡方式已經刪除，諮詢師不會再用它聯絡你。如果想聊聊，隨時可以撥打下面的熱線。
withdraw-resend-expired = 這個頁面開啟太久了。如果仍想刪除，請再按一次按鈕。

# issue 10: interruptions and read aloud
form-paged = 一次只顯示一部分
form-all = 全部顯示
form-next = 下一部分
form-back = 上一部分
form-read = 朗讀這道題
form-restored = 已恢復你剛才填寫的回答，可以接著填。
form-offline-title = 網路斷了，你的回答還在
form-offline-body = 你的回答還保存在手機上，網路恢復後會自動重新傳送，不會重複。如果你現在很難受，請馬上撥打：
form-offline-retrying = 正在等待網路，恢復後會自動傳送……
