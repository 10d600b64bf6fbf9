# Careline 工作台：繁體中文。
# 三個語言檔的鍵必須一致；有測試檢查。

ws-brand = Careline 工作台
ws-nav-label = 工作台
ws-nav-queue = 預警佇列
ws-nav-admin = 使用者與站點
ws-nav-audit = 稽核紀錄
ws-nav-password = 修改密碼
ws-nav-signout = 登出
ws-back-home = 回到我的工作台
ws-back-to-queue = 回到預警佇列
ws-yes = 是
ws-no = 否

ws-role-counselor = 諮商師
ws-role-supervisor = 督導
ws-role-admin = 管理員

## 登入

ws-login-title = 登入
ws-login-email = 電子郵件
ws-login-password = 密碼
ws-login-submit = 登入
ws-login-failed = 電子郵件或密碼不正確，或帳號已停用。
ws-login-wait = 請等 { $n } 分鐘後再試。
ws-login-expired = 登入頁面已過期，請重新登入。

## 密碼

ws-password-title = 修改密碼
ws-password-hint = 至少 12 個字元。修改後，其他裝置上的登入都會登出。
ws-password-current-label = 目前的密碼
ws-password-new-label = 新密碼
ws-password-repeat-label = 再輸入一次新密碼
ws-password-submit = 修改密碼
ws-password-changed = 密碼已修改，其他裝置已登出。
ws-password-mismatch = 兩次輸入的新密碼不一致。
ws-password-weak = 密碼至少需要 12 個字元（最多 256 位元組）。
ws-password-same = 新密碼不能與目前的密碼相同。
ws-password-current = 目前的密碼不正確（或嘗試次數過多，請幾分鐘後再試）。

## 佇列

ws-queue-title = 預警佇列
ws-queue-open-red = 待接手的紅色預警
ws-queue-take-next = 接手下一則
ws-cluster-row = 疑似灌量：{ $site }，{ $count } 筆預警（紅色 { $red } 筆），{ $first } 至 { $last }
ws-cluster-title = 疑似灌量
ws-cluster-summary = { $site } 有 { $count } 筆尚未處理的預警（紅色 { $red } 筆，留了電話 { $contact } 筆），時間 { $first } 至 { $last }。它們保留各自的期限，作為一組通知。留了電話的排在最前。
ws-cluster-pick = 移回
ws-cluster-contact = 電話
ws-cluster-has-contact = 留了電話
ws-cluster-release = 把勾選的預警移回佇列
ws-cluster-note = 其餘為誤報的原因
ws-cluster-resolve = 把其餘全部標記為誤報
ws-cluster-supervisors = 疑似灌量由督導審核。如果其中某筆看起來是真的，請打開並接手，或告訴你的督導。
ws-cluster-released = 已把 { $count } 筆預警移回佇列。
ws-cluster-resolved = 已把 { $count } 筆預警標記為誤報；另有 { $kept } 筆已被他人接手，保持不變。
ws-queue-empty = 目前這裡沒有預警。
ws-queue-none-open = 沒有待接手的預警。
ws-queue-no-js = 新預警會自動出現；如果瀏覽器沒有啟用 JavaScript，請重新整理頁面。
ws-queue-more = 還有 { $count } 筆預警：下一頁
ws-live-on = 即時更新中：新預警會自動出現
ws-live-off = 即時更新已暫停，請重新整理頁面確認
ws-filter-status = 狀態
ws-filter-status-active = 待接手和處理中
ws-filter-status-all = 全部
ws-filter-tier = 等級
ws-filter-site = 站點
ws-filter-any = 全部
ws-filter-apply = 篩選
ws-col-reference = 預警
ws-col-tier = 等級
ws-col-status = 狀態
ws-col-deadline = 期限
ws-col-site = 站點
ws-col-assignee = 接手人
ws-col-created = 發起時間
ws-no-site = （無站點）
ws-nobody = 尚無人接手
ws-urgent = 緊急
ws-tier-red = 紅色
ws-tier-yellow = 黃色
ws-tier-green = 綠色
ws-status-open = 待接手
ws-status-acknowledged = 處理中
ws-status-resolved = 已結案
ws-left-minutes = 還剩 { $n } 分鐘
ws-left-hours = 還剩 { $n } 小時
ws-left-days = 還剩 { $n } 天
ws-overdue-minutes = 已逾時 { $n } 分鐘
ws-overdue-hours = 已逾時 { $n } 小時
ws-overdue-days = 已逾時 { $n } 天

## 預警詳情

ws-alert-title = 預警
ws-alert-outcome = 結果
ws-crisis-title = 如果騎手此刻有危險
ws-crisis-body = 先撥打急救或報警電話，可以的話繼續和騎手保持通話。
ws-actions-title = 處理
ws-actions-none = 這裡無需操作：預警已結案，或已由他人接手。
ws-action-acknowledge = 接手這則預警
ws-action-unacknowledge = 退回佇列
ws-action-note-label = 記錄到時間軸
ws-action-note = 新增紀錄
ws-action-outcome-label = 處理結果
ws-action-resolve-note-label = 做了什麼（必填）
ws-action-resolve = 結案
ws-action-assign-label = 轉交給
ws-action-assign = 轉交
ws-outcome-choose = 請選擇處理結果
ws-outcome-contacted_safe = 已聯繫，安全
ws-outcome-referred = 已轉介
ws-outcome-emergency_services = 已呼叫急救/警方
ws-outcome-unreachable = 聯繫不上
ws-outcome-false_positive = 誤報
ws-outcome-other = 其他
ws-conflict-taken = 這則預警已被接手：
ws-conflict-resolved = 這則預警已經結案。
ws-conflict-open = 這則預警還沒有人接手，請先接手。
ws-invalid-note = 請填寫紀錄（最多 4000 字）。
ws-invalid-outcome = 請選擇處理結果。
ws-invalid-assignee = 請選擇負責該站點、在職的諮商師或督導。
ws-reasons-title = 預警原因
ws-contact-title = 聯絡方式
ws-referral-title = 轉介匯出（FHIR）
ws-referral-hint = 將本預警的自測結果匯出為 FHIR R4 檔案（含分數的 QuestionnaireResponse），供轉介醫院使用。每次匯出都會記入稽核日誌。
ws-referral-contact = 包含聯絡方式（姓名和電話）
ws-referral-download = 下載 FHIR 檔案
ws-contact-consented = 騎手同意透過這個號碼聯繫。
ws-contact-name = 稱呼
ws-contact-phone = 電話
ws-scores-title = 得分
ws-answers-title = 作答
ws-unanswered = 未作答
ws-screening-submitted = 提交於
ws-screening-version = 版本
ws-screening-locale = 作答語言
ws-earlier-title = 這位騎手以前的篩檢
ws-timeline-title = 時間軸
ws-system = 系統
ws-event-opened = 發起預警
ws-event-attached = 附加了另一次篩檢
ws-event-acknowledged = 接手
ws-event-unacknowledged = 退回佇列
ws-event-reassigned = 轉交
ws-event-note = 紀錄
ws-event-resolved = 結案
ws-event-paged = 已通知值班人員
ws-event-escalation_gap = 這一級升級無人值班
ws-event-escalation_repaired = 升級已恢復
ws-event-delivery_failed = 一則通知未能送達
ws-event-nobody_to_page = 無人可通知：沒有值班人員、督導或備用信箱

## 管理

ws-admin-title = 使用者與站點
ws-admin-users = 使用者
ws-admin-email = 電子郵件
ws-admin-name = 姓名
ws-admin-role = 角色
ws-admin-sites = 站點
ws-admin-sites-hint = 都不勾選：負責所有站點。
ws-admin-active = 啟用
ws-admin-locale = 語言
ws-admin-edit = 編輯
ws-admin-save = 儲存
ws-admin-reset-password = 新密碼（留空則不變）
ws-admin-new-user = 新增使用者
ws-admin-password = 密碼
ws-admin-password-hint = 留空則自動產生，只顯示一次。
ws-admin-create-user = 新增使用者
ws-admin-generated = 自動產生的密碼，使用者：
ws-admin-generated-once = 請現在安全地轉交，之後不會再顯示。
ws-admin-user-saved = 使用者已儲存。
ws-admin-site-saved = 站點已儲存。
ws-all-sites = 所有站點
ws-admin-sites-title = 站點
ws-admin-slug = 代碼
ws-admin-slug-hint = 小寫字母、數字、- 和 _；它是站點 QR 碼連結的一部分，建立後不能修改。
ws-admin-site-name = 名稱
ws-admin-qr = QR 碼連結
ws-admin-poster = 列印海報
ws-admin-unknown-title = 最近 7 天的未知站點代碼
ws-admin-unknown-hint = QR 碼連結中的站點代碼不存在時，自測照常保存，但不歸入任何站點。此處出現的代碼表示海報印錯或已過時：請用該代碼建立站點，或更換海報。
ws-admin-unknown-none = 無：最近 7 天用到的站點代碼都已登記。
ws-admin-unknown-code = 代碼
ws-admin-unknown-count = 自測次數
ws-admin-unknown-last = 最近一次（北京時間）
ws-admin-rename = 改名
ws-admin-new-site = 新增站點
ws-admin-create-site = 新增站點
ws-admin-invalid-email = 請輸入電子郵件地址，例如 name@example.org。
ws-admin-invalid-name = 姓名為 1 到 100 個字元。
ws-admin-invalid-role = 請選擇諮商師、督導或管理員。
ws-admin-invalid-sites = 有站點不存在，請先新增。
ws-admin-invalid-locale = 請選擇提供的語言之一。
ws-admin-invalid-slug = 代碼為 1 到 64 個小寫字母、數字、- 和 _。
ws-admin-invalid-nothing = 沒有任何修改。
ws-admin-user-exists = 這個電子郵件的使用者已經存在。
ws-admin-site-exists = 這個代碼的站點已經存在。
ws-admin-last-admin = 這是最後一位啟用的管理員，請先設定另一位管理員。

## 稽核紀錄

ws-audit-title = 稽核紀錄
ws-audit-all = 全部操作
ws-audit-at = 時間（UTC）
ws-audit-actor = 操作人
ws-audit-action = 操作
ws-audit-target = 對象
ws-audit-ip = 位址
ws-audit-detail = 詳情
ws-audit-empty = 沒有紀錄。
ws-audit-newest = 最新
ws-audit-older = 更早的紀錄

## 問題

ws-error-400-title = 無法識別這個請求
ws-error-400-body = 篩選條件或表單中有不允許的值，請返回重試。
ws-error-403-title = 無權存取
ws-error-403-body = 你的角色不能存取工作台的這一部分。
ws-error-404-title = 找不到
ws-error-404-body = 在你可以檢視的紀錄中沒有這一筆。
ws-error-409-title = 已有人先處理了
ws-error-409-body = 這則預警剛剛有了變化，請先重新檢視再操作。
ws-error-500-title = 出了點問題
ws-error-500-body = 頁面暫時無法顯示，請稍後再試。
ws-error-503-title = 暫時無法使用
ws-error-503-body = 服務暫時連不上資料庫，請幾秒鐘後再試。
ws-error-csrf-title = 這個表單已過期
ws-error-csrf-body = 什麼都沒有修改。請重新開啟頁面再操作一次。
ws-nav-reports = 統計報告
rep-title = 計畫統計報告
rep-intro = 僅統計已結束的週或月（北京時間）。少於 { $min } 的數字顯示為「<{ $min }」，「—」表示為防止反推而隱藏的數字：任何數字都無法指認某一位騎手。
rep-from = 起始日期
rep-to = 結束日期
rep-by = 統計週期
rep-week = 週
rep-month = 月
rep-empty = 所選時段內沒有已結束的週或月。
rep-screenings = 篩檢
rep-chart-screenings = 各週期篩檢數（依風險等級）
rep-tier-green = 綠色
rep-tier-yellow = 黃色
rep-tier-red = 紅色
rep-site = 站點
rep-total = 合計
rep-all = 全部
rep-other-sites = 其他站點
rep-no-site = 無站點
rep-csv = 下載 CSV
rep-alerts = 預警
rep-period = 週期
rep-tier = 等級
rep-opened = 新增預警
rep-median = 確認用時中位數（分鐘）
rep-p90 = 第 90 百分位（分鐘）
rep-share = 準時確認比例
rep-coverage = 值班覆蓋
rep-chart-coverage = 各週期無諮商師值班的小時數
rep-hours = 小時數
rep-uncovered = 無諮商師值班小時數

# issue 13: channels (staff phone numbers)
ws-admin-phone = 手機號碼（簡訊和語音呼叫）
ws-admin-phone-hint = E.164 格式：+ 加國碼和號碼，例如 +8613800138000。留空則只用郵件和群組機器人通知。
ws-event-channel_sent = 已傳送到通知管道（群組機器人、簡訊或語音電話）
