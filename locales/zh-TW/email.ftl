# Emails to staff. They carry no rider data: reference, tier, site, deadline and a link only.
email-tier-red = 紅色預警
email-tier-red-urgent = 緊急紅色預警
email-tier-yellow = 黃色預警
email-no-site = 未註明站點
email-page-subject = [Careline] { $tier } { $reference } · { $site } · 截止 { $deadline }
email-page-body =
    { $tier }：{ $reference }
    站點：{ $site }
    確認期限：{ $deadline }（北京時間）

    請盡快登入並確認（接手）這則預警：
    { $link }

    在有人確認之前，預警會依值班表逐級升級。
email-remind-subject = [Careline] 提醒：預警 { $reference } 尚未結案
email-remind-body =
    預警 { $reference }（{ $tier }，站點：{ $site }）已被接手，但尚未結案。

    請在處理後登記結果：
    { $link }
email-digest-subject = [Careline] 每日彙總：{ $count } 則黃色預警待跟進
email-digest-body =
    截至 { $date }，您負責的站點仍有待跟進的黃色預警：

    { $lines }

    查看預警佇列：
    { $link }
email-flood-subject = [Careline] 疑似灌量：{ $site } 在 { $minutes } 分鐘內有 { $count } 份篩查
email-flood-body =
    疑似灌量：{ $site } 在 { $minutes } 分鐘內收到 { $count } 份黃色或紅色篩查，遠超一個站點的正常數量。

    這些預警已在佇列中合併為一列，不再逐條通知；每條仍保留原來的期限。請打開該組，把看起來真實的
    預警移回佇列（留了電話的排在最前），其餘標記為誤報：
    { $link }
email-footer = 此郵件由 Careline 自動發送，請勿回覆。

# issue 13: password reset, roster gaps
email-reset-subject = [Careline] 設定新密碼
email-reset-body =
    有人（希望是您本人）申請為您的 Careline 帳號設定新密碼。
    請在 { $minutes } 分鐘內開啟以下連結設定新密碼；連結只能使用一次：
    { $link }

    如果不是您本人申請，請忽略此郵件，您的密碼不會改變。
email-gaps-subject = [Careline] 未來 7 天有 { $count } 個無人值班時段
email-gaps-body =
    截至 { $date }，以下時段（北京時間）無人值班；其間該站點的紅色預警要到最後一級升級才有人接收：

    { $lines }

    請在值班表頁面新增班次：
    { $link }
email-gaps-line = - { $site }：{ $from } 至 { $to }

# issue 13: channels (group robots; the same fields as a page email, never rider data)
channel-page-text = 【Careline】{ $tier } { $reference }，站點：{ $site }。請在 { $deadline }（北京時間）前確認：{ $link }
# The daily roster gaps on a group robot (site names and China time only)
channel-gaps-text =
    【Careline】截至 { $date }，未來 7 天有 { $count } 個無人值班時段（北京時間）；其間該站點的紅色預警要到最後一級升級才有人接收：
    { $lines }
    請新增班次：{ $link }
channel-gaps-more = - 另有 { $count } 個
