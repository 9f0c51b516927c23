"""Word lists the name and company extractors share: surnames, places, lookalike words.

Kept as data so the rules stay readable; the lists favour precision (a surname that is
also a common function word, like 和 or 向, is left out on purpose).
"""
from __future__ import annotations

# Common single-character surnames, commonest first, minus characters that are far more often
# function words or word endings in sales notes (和 向 由 都 来 时 原 位 司 商 门 区 计 国 全 …).
SURNAMES_BY_FREQUENCY = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕"
    "丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫阎段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃"
    "武戴莫孔汤常温康施牛樊葛邢齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿兰焦俞左柳甘祝包宁尚符舒阮柯纪梅"
    "童凌毕单季裴霍涂苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳穆农卓古吉缪简项连芦麦"
    "褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂佟臧闵苟邬边卞姬师仇栾隋刁沙荣巫寇桑郎甄丛仲虞敖巩佘池查"
    "麻苑迟邝官封谈匡鞠惠荆乐冀郁胥储栗燕楚鄢劳谌奚皮粟冼蔺楼闻厉仝郜阚权帅屠朴练廉禹井祖漆巴丰支卿"
    "狄晋初云容敬扈晁芮普阙浦戈伏鹿薄邸雍辜羊裘亓修邰赫杭况宿逯隆茹诸慕危亢嵇湛宾戎勾茅揭尉檀衣昝"
    "智幸奉植衡富尧明安文关成车贝郦钮习逄蹇"
)
SURNAMES = set(SURNAMES_BY_FREQUENCY)
COMPOUND_SURNAMES = (
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "司徒", "夏侯",
    "长孙", "宇文", "轩辕", "端木", "独孤", "南宫", "西门", "申屠", "呼延", "澹台", "公冶", "太史",
)

# Two-character words whose second character is a surname: "工程经理" is no 程经理.
NOT_SURNAME_BIGRAMS = set((
    "工程 过程 课程 流程 日程 进程 章程 规程 行程 全程 远程 教程 议程 编程 疗程 路程 里程 "
    "对方 双方 甲方 乙方 买方 卖方 各方 官方 我方 他方 一方 校方 院方 厂方 资方 地方 "
    "语文 中文 英文 公文 论文 课文 人文 全文 原文 音乐 快乐 娱乐 古董 帅哥 中华 繁华 "
    "提高 最高 很高 资金 黄金 基金 现金 租金 奖金 定金 押金 也许 允许 或许 非常 经常 日常 正常 异常 "
    "说明 证明 发明 透明 公安 平安 治安 保安 南宁 辽宁 济宁 西宁 海宁 普通 交通 沟通"
).split())
# Title words that are ordinary words when a given surname character precedes them.
NOT_TITLE_WORDS = {"施工", "童工", "车工", "金工", "石工", "老师", "小米", "小白", "小康", "小费",
                   "小于", "小龙", "小鹏", "小牛", "小熊", "老龙", "老白", "小马", "小程"}

# Common words, well-known brands and places that look like "surname + given name".
_WORDS = set("方案 方面 方向 方法 方式 高端 高层 高速 高校 石油 黄金 安全 安装 金额 成本".split())
_BRANDS = set("华为 万达 万科 苏宁 方正 金山 金蝶 宁德 吉利 龙湖 安踏 蒙牛 伊利 格力 海尔 联想 用友 美的 华润 华西 钱塘 石药".split())
NAME_LOOKALIKES = _WORDS | _BRANDS | set((
    "华东 华南 华北 华中 吴江 唐山 石家庄 秦皇岛 邢台 张家口 张家界 常州 温州 金华 "
    "黄山 黄冈 黄石 马鞍山 安庆 安阳 宁波 武汉 武威 许昌 吕梁 邯郸 沈阳 江门 潮州 梅州 韶关 湛江 "
    "贵阳 贵州 安徽 甘肃 宁夏 吉林 江苏 江西 云南 福建 青海 郑州 苏州 徐州 杭州 湖州 嘉兴 台州 丽水 "
    "衢州 舒城 柳州 桂林 梧州 钦州 百色 岳阳 常德 邵阳 衡阳 娄底 益阳 郴州 永州 怀化 曲靖 玉溪 "
    "丽江 昆明 西安 宝鸡 咸阳 汉中 延安 榆林 商洛 兰州 天水 白银 酒泉 银川 西宁 乌鲁木齐 拉萨 "
    "成都 绵阳 德阳 乐山 宜宾 泸州 南充 遂宁 达州 眉山 雅安 巴中 资阳 攀枝花 广元 内江 "
    "济南 青岛 烟台 潍坊 淄博 临沂 济宁 泰安 威海 日照 德州 聊城 滨州 菏泽 枣庄 东营 "
    "南京 无锡 南通 扬州 镇江 泰州 盐城 淮安 连云港 宿迁 合肥 芜湖 蚌埠 淮南 淮北 铜陵 阜阳 "
    "宿州 六安 亳州 池州 宣城 滁州 福州 厦门 泉州 漳州 莆田 三明 龙岩 南平 宁德 南昌 九江 "
    "景德镇 萍乡 新余 鹰潭 赣州 吉安 宜春 抚州 上饶 长沙 株洲 湘潭 张家港 昆山 江阴 义乌 "
    "广州 深圳 珠海 汕头 佛山 东莞 中山 惠州 肇庆 清远 阳江 茂名 云浮 揭阳 汕尾 河源 "
    "南宁 北海 防城港 贵港 玉林 贺州 河池 来宾 崇左 海口 三亚 儋州 重庆 北京 上海 天津 "
    "太原 大同 阳泉 长治 晋城 朔州 晋中 运城 忻州 临汾 呼和浩特 包头 鄂尔多斯 赤峰 通辽 "
    "长春 吉林 四平 辽源 通化 白山 松原 白城 延吉 哈尔滨 齐齐哈尔 牡丹江 佳木斯 大庆 鸡西 "
    "大连 鞍山 抚顺 本溪 丹东 锦州 营口 阜新 辽阳 盘锦 铁岭 朝阳 葫芦岛 洛阳 开封 平顶山 "
    "焦作 鹤壁 新乡 濮阳 漯河 三门峡 南阳 商丘 信阳 周口 驻马店 宜昌 襄阳 荆州 荆门 鄂州 "
    "孝感 咸宁 随州 恩施 十堰 廊坊 保定 沧州 衡水 承德 遵义 六盘水 安顺 毕节 铜仁 凯里 "
    "大理 保山 昭通 普洱 临沧 楚雄 红河 文山 香港 澳门 台湾 台北 高雄"
).split())

# Provinces and cities: a company name that is only a place is no company.
PLACES = (NAME_LOOKALIKES - _BRANDS - _WORDS) | set(
    "浙江 广东 广西 湖南 湖北 河南 河北 山东 山西 陕西 四川 辽宁 黑龙江 内蒙古 新疆 西藏 海南"
    .split()
)

# Organisation suffixes: legal forms and industry words a Chinese company or unit name ends with.
LEGAL_SUFFIXES = ("股份有限公司", "有限责任公司", "有限公司", "分公司", "公司", "集团", "控股", "股份")
ORG_SUFFIXES = sorted(LEGAL_SUFFIXES + (
    "研究院", "研究所", "设计院", "事务所", "交易所", "工作室", "人民医院", "中医院", "医院", "卫生院", "保健院", "附院",
    "诊所", "门诊部", "大学", "学院", "中学", "小学", "学校", "幼儿园", "职校", "附中", "银行", "信用社", "证券", "保险",
    "酒店", "宾馆", "超市", "商场", "百货", "科技", "电子商务", "电商", "制造", "物流", "快递", "速运", "快运", "航空",
    "药业", "制药", "医药", "药店", "药房", "电子", "网络", "贸易", "实业", "机械", "电气", "汽车", "地产", "置业",
    "物业", "能源", "化工", "化学", "化纤", "食品", "餐饮", "教育", "医疗", "生物", "传媒", "建设", "建工", "材料",
    "纺织", "鞋业", "服饰", "家居", "光电", "光能", "通信", "供应链", "工厂", "电厂", "水务", "燃气", "电力", "钢铁",
    "重工", "电器", "中心", "4S店", "连锁", "餐厅", "酒业", "乳业", "农业", "环保", "税务局", "教育局", "公安局", "人社局",
    "住建局", "卫健委", "发改委", "管委会", "财政局", "交通局", "医保局", "市场监管局", "统计局", "商务局", "政府",
    "街道办", "法院", "检察院", "海关",
), key=len, reverse=True)

# English given names Chinese professionals commonly use at work ("Tony from 鼎信", "跟Kevin聊了").
# A capitalised word is taken as a person only if it is one of these or a person cue follows it.
EN_GIVEN_NAMES = frozenset((
    "Aaron Abby Ada Adam Alan Albert Alex Alice Alicia Allen Alvin Amanda Amber Amy Andrew Andy Angela Angel Angie "
    "Ann Anna Annie Anthony Arthur Ashley Austin Barry Ben Benjamin Bella Betty Bill Billy Bob Bonnie Brandon "
    "Brian Bruce Caesar Candy Carl Carol Caroline Carrie Catherine Cathy Cecilia Charles Charlie Chris Christina "
    "Christine Christy Cindy Claire Coco Colin Connie Crystal Cynthia Daisy Daniel Danny Daphne David Dennis Derek "
    "Diana Dora Doris Edward Edwin Eileen Elaine Eleanor Ella Ellen Elsa Elva Emily Emma Eric Erica Eva Evan Fanny "
    "Felix Fiona Frank Freda Gary George Gigi Gina Gloria Grace Gracie Hank Hannah Harry Harvey Hazel Helen Henry "
    "Ivan Ivy Jack Jackie Jackson Jacky Jacob James Jamie Jane Janet Jason Jasmine Jay Jeff Jeffrey Jennifer Jenny "
    "Jerry Jessica Jessie Jim Jimmy Joanna Joe Joey John Johnny Joseph Josh Joy Joyce Judy Julia Julian Julie "
    "Justin Karen Kate Katherine Kathy Katie Kelly Ken Kenny Kevin Kiki Kim Kitty Kris Kyle Lance Larry Laura "
    "Lauren Leo Leon Leslie Lily Linda Lisa Louis Louise Lucas Lucy Luke Lynn Maggie Mandy Marco Mark Martin Mary "
    "Matt Max Maya Megan Melody Mia Michael Michelle Mike Miranda Molly Monica Nancy Natalie Nathan Neil Nick Nicole "
    "Nina Oliver Olivia Oscar Owen Pam Patrick Paul Peggy Penny Peter Phoebe Rachel Ray Raymond Rebecca "
    "Richard Rick Rita Robert Robin Rocky Roger Ronald Rose Roy Ruby Ryan Sally Sam Samantha Sammy Sandy Sara Sarah "
    "Scott Sean Selina Shawn Sherry Shirley Simon Sophia Sophie Stanley Stella Stephanie Stephen Steve Steven Sue "
    "Sunny Susan Sylvia Tiffany Tim Timothy Tina Toby Tom Tommy Tony Tracy Vicky Victor Victoria Vincent "
    "Vivian Wayne Wendy William Willis Winnie Yvonne Zoe"
).split())
