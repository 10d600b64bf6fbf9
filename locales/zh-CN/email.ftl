# Emails to staff. They carry no rider data: reference, tier, site, deadline and a link only.
email-tier-red = 红色预警
email-tier-red-urgent = 紧急红色预警
email-tier-yellow = 黄色预警
email-no-site = 未注明站点
email-page-subject = [Careline] { $tier } { $reference } · { $site } · 截止 { $deadline }
email-page-body =
    { $tier }：{ $reference }
    站点：{ $site }
    确认期限：{ $deadline }（北京时间）

    请尽快登录并确认（接手）这条预警：
    { $link }

    在有人确认之前，预警会按值班表逐级升级。
email-remind-subject = [Careline] 提醒：预警 { $reference } 尚未结案
email-remind-body =
    预警 { $reference }（{ $tier }，站点：{ $site }）已被接手，但尚未结案。

    请在处理后登记结果：
    { $link }
email-digest-subject = [Careline] 每日汇总：{ $count } 条黄色预警待跟进
email-digest-body =
    截至 { $date }，您负责的站点仍有待跟进的黄色预警：

    { $lines }

    查看预警队列：
    { $link }
email-flood-subject = [Careline] 疑似刷量：{ $site } 在 { $minutes } 分钟内有 { $count } 份筛查
email-flood-body =
    疑似刷量：{ $site } 在 { $minutes } 分钟内收到 { $count } 份黄色或红色筛查，远超一个站点的正常数量。

    这些预警已在队列中合并为一行，不再逐条通知；每条仍保留原来的期限。请打开该组，把看起来真实的
    预警移回队列（留了电话的排在最前），其余标记为误报：
    { $link }
email-footer = 此邮件由 Careline 自动发送，请勿回复。

# issue 13: password reset, roster gaps
email-reset-subject = [Careline] 设置新密码
email-reset-body =
    有人（希望是您本人）申请为您的 Careline 账号设置新密码。
    请在 { $minutes } 分钟内打开以下链接设置新密码；链接只能使用一次：
    { $link }

    如果不是您本人申请，请忽略此邮件，您的密码不会改变。
email-gaps-subject = [Careline] 未来 7 天有 { $count } 个无人值班时段
email-gaps-body =
    截至 { $date }，以下时段（北京时间）无人值班；其间该站点的红色预警要到最后一级升级才有人接收：

    { $lines }

    请在值班表页面添加班次：
    { $link }
email-gaps-line = - { $site }：{ $from } 至 { $to }

# issue 13: channels (group robots; the same fields as a page email, never rider data)
channel-page-text = 【Careline】{ $tier } { $reference }，站点：{ $site }。请在 { $deadline }（北京时间）前确认：{ $link }
# The daily roster gaps on a group robot (site names and China time only)
channel-gaps-text =
    【Careline】截至 { $date }，未来 7 天有 { $count } 个无人值班时段（北京时间）；其间该站点的红色预警要到最后一级升级才有人接收：
    { $lines }
    请添加班次：{ $link }
channel-gaps-more = - 另有 { $count } 个
