# Careline 工作台：简体中文。
# 三个语言文件的键必须一致；有测试检查。

ws-brand = Careline 工作台
ws-nav-label = 工作台
ws-nav-queue = 预警队列
ws-nav-admin = 用户与站点
ws-nav-audit = 审计日志
ws-nav-password = 修改密码
ws-nav-signout = 退出登录
ws-back-home = 回到我的工作台
ws-back-to-queue = 回到预警队列
ws-yes = 是
ws-no = 否

ws-role-counselor = 咨询师
ws-role-supervisor = 督导
ws-role-admin = 管理员

## 登录

ws-login-title = 登录
ws-login-email = 邮箱
ws-login-password = 密码
ws-login-submit = 登录
ws-login-failed = 邮箱或密码不正确，或账号已停用。
ws-login-wait = 请等 { $n } 分钟后再试。
ws-login-expired = 登录页面已过期，请重新登录。

## 密码

ws-password-title = 修改密码
ws-password-hint = 至少 12 个字符。修改后，其他设备上的登录都会退出。
ws-password-current-label = 当前密码
ws-password-new-label = 新密码
ws-password-repeat-label = 再输一次新密码
ws-password-submit = 修改密码
ws-password-changed = 密码已修改，其他设备已退出登录。
ws-password-mismatch = 两次输入的新密码不一致。
ws-password-weak = 密码至少需要 12 个字符（最多 256 字节）。
ws-password-same = 新密码不能与当前密码相同。
ws-password-current = 当前密码不正确（或尝试次数过多，请几分钟后再试）。

## 队列

ws-queue-title = 预警队列
ws-queue-open-red = 待接手的红色预警
ws-queue-take-next = 接手下一条
ws-cluster-row = 疑似刷量：{ $site }，{ $count } 条预警（红色 { $red } 条），{ $first } 至 { $last }
ws-cluster-title = 疑似刷量
ws-cluster-summary = { $site } 有 { $count } 条尚未处理的预警（红色 { $red } 条，留了电话 { $contact } 条），时间 { $first } 至 { $last }。它们保留各自的期限，作为一组通知。留了电话的排在最前。
ws-cluster-pick = 移回
ws-cluster-contact = 电话
ws-cluster-has-contact = 留了电话
ws-cluster-release = 把勾选的预警移回队列
ws-cluster-note = 其余为误报的原因
ws-cluster-resolve = 把其余全部标记为误报
ws-cluster-supervisors = 疑似刷量由督导审核。如果其中某条看起来是真的，请打开并接手，或告诉你的督导。
ws-cluster-released = 已把 { $count } 条预警移回队列。
ws-cluster-resolved = 已把 { $count } 条预警标记为误报；另有 { $kept } 条已被他人接手，保持不变。
ws-queue-empty = 目前这里没有预警。
ws-queue-none-open = 没有待接手的预警。
ws-queue-no-js = 新预警会自动出现；如果浏览器没有开启 JavaScript，请刷新页面。
ws-queue-more = 还有 { $count } 条预警：下一页
ws-live-on = 实时更新中：新预警会自动出现
ws-live-off = 实时更新已暂停，请刷新页面确认
ws-filter-status = 状态
ws-filter-status-active = 待接手和处理中
ws-filter-status-all = 全部
ws-filter-tier = 等级
ws-filter-site = 站点
ws-filter-any = 全部
ws-filter-apply = 筛选
ws-col-reference = 预警
ws-col-tier = 等级
ws-col-status = 状态
ws-col-deadline = 期限
ws-col-site = 站点
ws-col-assignee = 接手人
ws-col-created = 发起时间
ws-no-site = （无站点）
ws-nobody = 尚无人接手
ws-urgent = 紧急
ws-tier-red = 红色
ws-tier-yellow = 黄色
ws-tier-green = 绿色
ws-status-open = 待接手
ws-status-acknowledged = 处理中
ws-status-resolved = 已结案
ws-left-minutes = 还剩 { $n } 分钟
ws-left-hours = 还剩 { $n } 小时
ws-left-days = 还剩 { $n } 天
ws-overdue-minutes = 已超时 { $n } 分钟
ws-overdue-hours = 已超时 { $n } 小时
ws-overdue-days = 已超时 { $n } 天

## 预警详情

ws-alert-title = 预警
ws-alert-outcome = 结果
ws-crisis-title = 如果骑手此刻有危险
ws-crisis-body = 先拨打急救或报警电话，能的话继续和骑手保持通话。
ws-actions-title = 处理
ws-actions-none = 这里无需操作：预警已结案，或已由他人接手。
ws-action-acknowledge = 接手这条预警
ws-action-unacknowledge = 退回队列
ws-action-note-label = 记录到时间线
ws-action-note = 添加记录
ws-action-outcome-label = 处理结果
ws-action-resolve-note-label = 做了什么（必填）
ws-action-resolve = 结案
ws-action-assign-label = 转交给
ws-action-assign = 转交
ws-outcome-choose = 请选择处理结果
ws-outcome-contacted_safe = 已联系，安全
ws-outcome-referred = 已转介
ws-outcome-emergency_services = 已呼叫急救/警方
ws-outcome-unreachable = 联系不上
ws-outcome-false_positive = 误报
ws-outcome-other = 其他
ws-conflict-taken = 这条预警已被接手：
ws-conflict-resolved = 这条预警已经结案。
ws-conflict-open = 这条预警还没有人接手，请先接手。
ws-invalid-note = 请填写记录（最多 4000 字）。
ws-invalid-outcome = 请选择处理结果。
ws-invalid-assignee = 请选择负责该站点、在职的咨询师或督导。
ws-reasons-title = 预警原因
ws-contact-title = 联系方式
ws-referral-title = 转介导出（FHIR）
ws-referral-hint = 将本预警的自测结果导出为 FHIR R4 文件（含分数的 QuestionnaireResponse），供转介医院使用。每次导出都会记入审计日志。
ws-referral-contact = 包含联系方式（姓名和电话）
ws-referral-download = 下载 FHIR 文件
ws-contact-consented = 骑手同意通过这个号码联系。
ws-contact-name = 称呼
ws-contact-phone = 电话
ws-scores-title = 得分
ws-answers-title = 作答
ws-unanswered = 未作答
ws-screening-submitted = 提交于
ws-screening-version = 版本
ws-screening-locale = 作答语言
ws-earlier-title = 这位骑手以前的筛查
ws-timeline-title = 时间线
ws-system = 系统
ws-event-opened = 发起预警
ws-event-attached = 附加了另一次筛查
ws-event-acknowledged = 接手
ws-event-unacknowledged = 退回队列
ws-event-reassigned = 转交
ws-event-note = 记录
ws-event-resolved = 结案
ws-event-paged = 已通知值班人员
ws-event-escalation_gap = 这一级升级无人值班
ws-event-escalation_repaired = 升级已恢复
ws-event-delivery_failed = 一条通知未能送达
ws-event-nobody_to_page = 无人可通知：没有值班人员、督导或备用邮箱

## 管理

ws-admin-title = 用户与站点
ws-admin-users = 用户
ws-admin-email = 邮箱
ws-admin-name = 姓名
ws-admin-role = 角色
ws-admin-sites = 站点
ws-admin-sites-hint = 都不勾选：负责所有站点。
ws-admin-active = 启用
ws-admin-locale = 语言
ws-admin-edit = 编辑
ws-admin-save = 保存
ws-admin-reset-password = 新密码（留空则不变）
ws-admin-new-user = 添加用户
ws-admin-password = 密码
ws-admin-password-hint = 留空则自动生成，只显示一次。
ws-admin-create-user = 添加用户
ws-admin-generated = 自动生成的密码，用户：
ws-admin-generated-once = 请现在安全地转交，之后不会再显示。
ws-admin-user-saved = 用户已保存。
ws-admin-site-saved = 站点已保存。
ws-all-sites = 所有站点
ws-admin-sites-title = 站点
ws-admin-slug = 代码
ws-admin-slug-hint = 小写字母、数字、- 和 _；它是站点二维码链接的一部分，创建后不能修改。
ws-admin-site-name = 名称
ws-admin-qr = 二维码链接
ws-admin-poster = 打印海报
ws-admin-unknown-title = 最近 7 天的未知站点代码
ws-admin-unknown-hint = 二维码链接中的站点代码不存在时，自测照常保存，但不归入任何站点。此处出现的代码说明海报印错或已过时：请用该代码创建站点，或更换海报。
ws-admin-unknown-none = 无：最近 7 天用到的站点代码都已登记。
ws-admin-unknown-code = 代码
ws-admin-unknown-count = 自测次数
ws-admin-unknown-last = 最近一次（北京时间）
ws-admin-rename = 改名
ws-admin-new-site = 添加站点
ws-admin-create-site = 添加站点
ws-admin-invalid-email = 请输入邮箱地址，例如 name@example.org。
ws-admin-invalid-name = 姓名为 1 到 100 个字符。
ws-admin-invalid-role = 请选择咨询师、督导或管理员。
ws-admin-invalid-sites = 有站点不存在，请先添加。
ws-admin-invalid-locale = 请选择提供的语言之一。
ws-admin-invalid-slug = 代码为 1 到 64 个小写字母、数字、- 和 _。
ws-admin-invalid-nothing = 没有任何修改。
ws-admin-user-exists = 这个邮箱的用户已经存在。
ws-admin-site-exists = 这个代码的站点已经存在。
ws-admin-last-admin = 这是最后一位启用的管理员，请先设置另一位管理员。

## 审计日志

ws-audit-title = 审计日志
ws-audit-all = 全部操作
ws-audit-at = 时间（UTC）
ws-audit-actor = 操作人
ws-audit-action = 操作
ws-audit-target = 对象
ws-audit-ip = 地址
ws-audit-detail = 详情
ws-audit-empty = 没有记录。
ws-audit-newest = 最新
ws-audit-older = 更早的记录

## 问题

ws-error-400-title = 请求无法识别
ws-error-400-body = 筛选条件或表单中有不允许的值，请返回重试。
ws-error-403-title = 无权访问
ws-error-403-body = 你的角色不能访问工作台的这一部分。
ws-error-404-title = 找不到
ws-error-404-body = 在你可以查看的记录中没有这一条。
ws-error-409-title = 已有人先处理了
ws-error-409-body = 这条预警刚刚有了变化，请先重新查看再操作。
ws-error-500-title = 出了点问题
ws-error-500-body = 页面暂时无法显示，请稍后再试。
ws-error-503-title = 暂时无法使用
ws-error-503-body = 服务暂时连不上数据库，请几秒钟后再试。
ws-error-csrf-title = 这个表单已过期
ws-error-csrf-body = 什么都没有修改。请重新打开页面再操作一次。
ws-nav-reports = 统计报告
rep-title = 项目统计报告
rep-intro = 仅统计已结束的周或月（北京时间）。少于 { $min } 的数字显示为"<{ $min }"，"—"表示为防止反推而隐藏的数字：任何数字都无法指认某一位骑手。
rep-from = 起始日期
rep-to = 结束日期
rep-by = 统计周期
rep-week = 周
rep-month = 月
rep-empty = 所选时段内没有已结束的周或月。
rep-screenings = 筛查
rep-chart-screenings = 各周期筛查数（按风险等级）
rep-tier-green = 绿色
rep-tier-yellow = 黄色
rep-tier-red = 红色
rep-site = 站点
rep-total = 合计
rep-all = 全部
rep-other-sites = 其他站点
rep-no-site = 无站点
rep-csv = 下载 CSV
rep-alerts = 预警
rep-period = 周期
rep-tier = 等级
rep-opened = 新增预警
rep-median = 确认用时中位数（分钟）
rep-p90 = 第 90 百分位（分钟）
rep-share = 按时确认比例
rep-coverage = 值班覆盖
rep-chart-coverage = 各周期无咨询师值班的小时数
rep-hours = 小时数
rep-uncovered = 无咨询师值班小时数

# issue 13: channels (staff phone numbers)
ws-admin-phone = 手机号（短信和语音呼叫）
ws-admin-phone-hint = E.164 格式：+ 加国家码和号码，例如 +8613800138000。留空则只用邮件和群机器人通知。
ws-event-channel_sent = 已发送到通知渠道（群机器人、短信或语音电话）
