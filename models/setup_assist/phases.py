"""The phases of a Setup Assist project as data (WH-A3), taken from seed 002's tables
"Wholesale Setup Assist - Express 项目阶段" (table 3) and "- 标准项目阶段" (table 4): each
phase with Cisco's tasks and the partner's tasks, in the seed's order. ``seed`` keeps the
seed's own words so a reader can check the translation.

Task ids are ``<phase>.<c|p><n>``: ``2.c1`` is Cisco's first task of phase 2. ``kind`` marks
the tasks the workflow treats specially:
- ``customer_call``: the Express customer call, at most one hour (WH-A6);
- ``support``: Standard post-migration support, closed when the five-business-day window
  ends (WH-A6);
- ``end_of_migration_notice``: sent, and so done, by the workflow when support ends (WH-A6).

The partner's standing duty of phase 1 of the Standard flow, "ensure information is provided
within two business days of Cisco's request", is not a task: it is WH-A4, the information
requests with their reminder and escalation.

``weight`` is a phase's share of the business days between submission and the planned
completion, for the planned timeline only (the seed gives no durations; our reading).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Owner = Literal["cisco", "partner"]
TaskKind = Literal["plain", "customer_call", "support", "end_of_migration_notice"]


@dataclass(frozen=True)
class TaskDef:
    id: str
    owner: Owner
    title: str
    seed: str
    kind: TaskKind = "plain"


@dataclass(frozen=True)
class PhaseDef:
    number: int
    name: str
    seed: str
    weight: int
    tasks: tuple[TaskDef, ...]


def _tasks(phase: int, cisco: list[tuple[str, str]], partner: list[tuple[str, str]]):
    out = [TaskDef(f"{phase}.c{i}", "cisco", t, s) for i, (t, s) in enumerate(cisco, 1)]
    out += [TaskDef(f"{phase}.p{i}", "partner", t, s) for i, (t, s) in enumerate(partner, 1)]
    return tuple(out)


def _mark(tasks: tuple[TaskDef, ...], task_id: str, kind: TaskKind) -> tuple[TaskDef, ...]:
    return tuple(
        TaskDef(t.id, t.owner, t.title, t.seed, kind) if t.id == task_id else t for t in tasks
    )


EXPRESS_PHASES: tuple[PhaseDef, ...] = (
    PhaseDef(
        1,
        "Discovery and assessment",
        "发现和评估",
        1,
        _tasks(
            1,
            cisco=[
                (
                    "Provide details of online training, admin guides and user guides",
                    "提供在线培训、管理指南和用户指南的详细信息。",
                ),
            ],
            partner=[
                (
                    "Submit the customer information (Setup Assist request or phone)",
                    "通过Wholesale Setup Assist Request(或电话)提交客户信息。",
                ),
                (
                    "Ensure the customer contacts include someone familiar with the call flows",
                    "确保提供的客户联系人中包含熟悉呼叫流程的人员。",
                ),
                (
                    "Obtain the customer's approval of the call-flow strategy",
                    "获取客户对呼叫流程策略的批准。",
                ),
            ],
        ),
    ),
    PhaseDef(
        2,
        "Solution design",
        "解决方案设计",
        1,
        _mark(
            _tasks(
                2,
                cisco=[
                    (
                        "Contact the customer location (customer call of at most one hour)",
                        "联系客户位置(最多1小时的客户通话)。",
                    ),
                    ("Complete the user and feature configuration", "完成用户和功能配置。"),
                    ("Test every assigned number", "测试任何分配的号码。"),
                    ("Verify the Control Hub sign-in works", "验证Control Hub登录是否有效。"),
                    ("Walk through the features and the user portal", "浏览功能和用户门户。"),
                ],
                partner=[("Follow up with the customer as needed", "根据需要与客户进行跟进。")],
            ),
            "2.c1",
            "customer_call",
        ),
    ),
)

STANDARD_PHASES: tuple[PhaseDef, ...] = (
    PhaseDef(
        1,
        "Project management",
        "项目管理",
        2,
        _tasks(
            1,
            cisco=[
                (
                    "Give the partner and the customer the list of key people and duties",
                    "向合作伙伴和客户提供关键人员和责任清单。",
                ),
                (
                    "Provide the schedule, deliverables, reporting cadence, milestones, events",
                    "提供项目进度、交付成果、报告频率、里程碑和事件。",
                ),
                ("Identify risks and potential issues", "识别风险和潜在问题。"),
                ("Provide the hand-off at project completion", "在项目完成时提供交接。"),
            ],
            partner=[
                (
                    "Provide the partner/customer roles and duties",
                    "提供合作伙伴/客户角色和职责列表",
                ),
                (
                    "Name primary and backup site contacts; key people assigned and available",
                    "身份主要和备份站点联系人。 确保关键人员已分配并可用。",
                ),
                (
                    "Coordinate with any external third party as needed",
                    "如有必要,与任何外部第三方协调。",
                ),
            ],
        ),
    ),
    PhaseDef(
        2,
        "Discovery and assessment",
        "发现和评估",
        2,
        _tasks(
            2,
            cisco=[
                ("Plan the project with the customer", "与客户合作进行项目规划。"),
                ("Plan the sites to migrate", "规划要迁移的站点。"),
                ("Interview the stakeholders", "与利益相关者进行访谈。"),
                ("Draft the data collection document", "数据收集文档草稿。"),
                ("Assist the partner and the customer", "协助合作伙伴和客户。"),
                (
                    "Provide the assessment report with recommendations and exclusions",
                    "提供包含建议和排除项的评估报告。",
                ),
            ],
            partner=[
                ("Provide the existing calling platform's information", "提供现有呼叫平台信息。"),
                (
                    "Provide the user and device location configuration",
                    "提供用户和设备位置配置信息。",
                ),
                ("Attend the meetings and provide what is asked", "出席会议并提供相关信息。"),
            ],
        ),
    ),
    PhaseDef(
        3,
        "Solution design",
        "解决方案设计",
        3,
        _tasks(
            3,
            cisco=[
                ("Review the partner's data collection document", "查看合作伙伴的数据收集文档。"),
                (
                    "Draft the Webex configuration workbook",
                    "起草Webex 配置工作手册,其中包含配置所需的信息。",
                ),
                (
                    "Review the technical requirements and existing documents",
                    "查看技术要求和现有文档。",
                ),
                (
                    "Provide the data collection templates for users and locations",
                    "为用户和位置提供数据收集模板。",
                ),
                ("Develop the configuration playbook", "开发配置实践手册。"),
                (
                    "Give the partner the updated questionnaire, workbook and build documents",
                    "向合作伙伴提供更新的客户问卷、配置工作簿和构建文档。",
                ),
            ],
            partner=[
                ("Ensure the key people are available", "确保关键人员有空。"),
                (
                    "Review the documents (questionnaire, data collection workbook)",
                    "复查文档(客户问卷、数据收集工作手册)。",
                ),
            ],
        ),
    ),
    PhaseDef(
        4,
        "Onboarding (test) planning",
        "入职(测试)规划阶段",
        2,
        _tasks(
            4,
            cisco=[
                ("Hold the test plan workshop", "举行测试计划研讨会。"),
                ("Write the test plan and give it to the customer", "制定测试计划并提供给客户。"),
            ],
            partner=[
                ("Attend the test plan workshop", "参加测试计划研讨会。"),
                ("Coordinate the customer's requirements", "协调客户需求。"),
                ("Review the migration plan", "查看迁移计划。"),
            ],
        ),
    ),
    PhaseDef(
        5,
        "Implementation",
        "实施",
        4,
        _tasks(
            5,
            cisco=[
                ("Install the configuration of the playbook", "在实践手册中安装配置。"),
                ("Provide the updated configuration workbook", "提供更新的配置工作簿。"),
            ],
            partner=[
                ("Deploy the on-site CPE and calling clients", "部署现场CPE和呼叫客户端。"),
                ("Configure directory, SSO and hybrid services", "配置目录、SSO、混合服务。"),
                ("Configure Control Hub", "Control Hub配置。"),
                (
                    "Collect the user and location data in the RedSky portal",
                    "将用户和位置数据收集到RedSky门户中。",
                ),
                ("Obtain the certificates and CSR", "获取证书和CSR。"),
                (
                    "Make the network changes (firewall ports, DHCP, TFTP, QoS)",
                    "配置需要网络设置才能更改(防火墙端口、DHCP、TFTP、Qos)。",
                ),
            ],
        ),
    ),
    PhaseDef(
        6,
        "Onboarding execution",
        "加入执行",
        2,
        _tasks(
            6,
            cisco=[
                ("Move the partner solution to production", "将合作伙伴解决方案迁移到生产。"),
                ("Migrate the users to Webex", "将用户迁移到Webex 。"),
            ],
            partner=[
                ("Coordinate the migration with the customer", "与客户协调迁移。"),
                ("Provide on-site resources", "提供现场资源。"),
                (
                    "Coordinate number porting and third-party elements",
                    "坐标(号码转网、第三方元素)。",
                ),
                (
                    "Change the dial plan on local equipment to support the migration",
                    "配置本地设备上的拨号方案修改以支持迁移。",
                ),
            ],
        ),
    ),
    PhaseDef(
        7,
        "Post-onboarding",
        "入职后",
        0,
        _mark(
            _tasks(
                7,
                cisco=[
                    (
                        "Post-migration support, up to five business days after migration",
                        "在迁移后最多五个工作日提供迁移后支持。",
                    ),
                    ("Troubleshooting support", "故障诊断支持"),
                ],
                partner=[
                    ("First-level contact and support", "一级联系和支持。"),
                    ("Provide on-site resources for troubleshooting", "为故障排除提供现场资源。"),
                ],
            ),
            "7.c1",
            "support",
        ),
    ),
    PhaseDef(
        8,
        "Operational hand-off",
        "操作交接",
        0,
        _mark(
            _tasks(
                8,
                cisco=[
                    ("Provide the updated configuration workbook", "提供更新的配置工作簿。"),
                    ("Send the end-of-migration notice", "发送迁移结束通知。"),
                    ("Close the migration", "迁移关闭。"),
                ],
                partner=[],
            ),
            "8.c2",
            "end_of_migration_notice",
        ),
    ),
)

MIGRATION_PHASE = 6  # Standard: the migration date is the day this phase ends
SUPPORT_PHASE = 7  # Standard: support for five business days after migration (WH-A6)


def phases_of(flow: str) -> tuple[PhaseDef, ...]:
    return EXPRESS_PHASES if flow == "express" else STANDARD_PHASES


def task_def(flow: str, task_id: str) -> tuple[PhaseDef, TaskDef] | None:
    for ph in phases_of(flow):
        for t in ph.tasks:
            if t.id == task_id:
                return ph, t
    return None
